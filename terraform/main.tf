# The K3s side of the operator's Terraform root. The Nomad job modules live beside these
# as modules/<service>/ (main.tf + jobspec.nomad.hcl, provider hashicorp/nomad), called as
# module "<service>"; the K3s ones are modules-k8s/<service>/, called as
# module "<service>_k8s". Nothing is shared between a service's two copies: module
# names, hostnames (<service>-k8s.brmartin.co.uk), Vault paths (default/<service>-k8s),
# buckets (<service>-k8s-litestream) and the state objects all differ, so both copies run
# side by side and either can be removed alone. Each K3s copy stays off until enable_k8s.
module "whoami_k8s" {
  source = "./modules-k8s/whoami"

  enable_k8s      = var.enable_k8s.whoami
  environment     = var.environment
  image           = var.images.whoami
  replicas        = var.whoami_replicas
  vpa_update_mode = var.vpa_update_mode
  mesh_enabled    = var.mesh_enabled
  # The entry point (public hostname) and the mesh client; every other caller is denied.
  mesh_allowed_callers = concat(
    [{ namespace = "k3s-ingress", service_account = "traefik" }],
    var.enable_k8s.whoami_client ? [module.whoami_client_k8s.caller] : [],
  )
}

module "whoami_client_k8s" {
  source = "./modules-k8s/whoami-client"

  enable_k8s   = var.enable_k8s.whoami_client
  environment  = var.environment
  image        = var.images.whoami_client
  target_url   = "http://whoami.whoami.svc.cluster.local"
  mesh_enabled = var.mesh_enabled
}

module "overseerr_k8s" {
  source = "./modules-k8s/overseerr"

  # null images keep each module's pinned default.
  enable_k8s       = var.enable_k8s.overseerr
  environment      = var.environment
  image            = var.images.overseerr
  litestream_image = var.images.litestream
  replicas         = var.overseerr_replicas
  env              = var.overseerr_env
  s3_endpoint      = var.s3_endpoint
  vault_server     = var.vault_server
  vpa_update_mode  = var.vpa_update_mode
  mesh_enabled     = var.mesh_enabled
}
