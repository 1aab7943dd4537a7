output "whoami" {
  description = "whoami on K3s: namespace, in-cluster URL and public hostname (nulls while off)."
  value = {
    namespace   = module.whoami_k8s.namespace
    service_url = module.whoami_k8s.service_url
    hostname    = module.whoami_k8s.hostname
  }
}

output "whoami_client" {
  description = "The mesh client: namespace and its mTLS principal."
  value = {
    namespace = module.whoami_client_k8s.namespace
    principal = module.whoami_client_k8s.principal
  }
}

output "overseerr" {
  description = "Overseerr on K3s: namespace, hostname, data claim and the replica's URL."
  value = {
    namespace   = module.overseerr_k8s.namespace
    hostname    = module.overseerr_k8s.hostname
    data_claim  = module.overseerr_k8s.data_claim
    replica_url = module.overseerr_k8s.replica_url
  }
}
