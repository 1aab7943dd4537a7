output "namespace" {
  description = "Namespace whoami runs in (null when enable_k8s is false)."
  value       = var.enable_k8s ? var.namespace : null
}

output "service_url" {
  description = "In-cluster URL of the whoami Service (null when enable_k8s is false)."
  value       = var.enable_k8s ? "http://${local.name}.${var.namespace}.svc.cluster.local" : null
}

output "hostname" {
  description = "Public hostname routed to whoami through the edge (null when enable_k8s is false)."
  value       = var.enable_k8s ? var.hostname : null
}
