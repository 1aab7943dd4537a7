output "namespace" {
  description = "Namespace the client runs in (null when enable_k8s is false)."
  value       = var.enable_k8s ? var.namespace : null
}

output "caller" {
  description = "The client's identity as whoami's mesh_allowed_callers takes it: namespace and service account."
  value       = { namespace = var.namespace, service_account = local.name }
}

output "principal" {
  description = "The client's mTLS identity in the mesh (SPIFFE path without the scheme)."
  value       = "${var.mesh_trust_domain}/ns/${var.namespace}/sa/${local.name}"
}
