output "namespace" {
  description = "Namespace Overseerr runs in (null when enable_k8s is false)."
  value       = var.enable_k8s ? var.namespace : null
}

output "hostname" {
  description = "Public hostname routed to Overseerr through the edge (null when enable_k8s is false)."
  value       = var.enable_k8s ? var.hostname : null
}

output "data_claim" {
  description = "The claim holding the live database (null when enable_k8s is false)."
  value       = var.enable_k8s ? "${local.name}-data" : null
}

output "replica_url" {
  description = "Where the database's replica lives, as a Litestream URL (the data's durable home)."
  value       = "s3://${var.s3_bucket}/${var.s3_path}"
}
