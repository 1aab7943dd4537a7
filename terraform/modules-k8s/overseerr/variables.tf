variable "enable_k8s" {
  description = "Deploy Overseerr on K3s. False (the default) plans nothing, so the module block can sit beside the Nomad job until the move."
  type        = bool
  default     = false
}

variable "environment" {
  description = "Environment label on every object: one of production, staging, lab."
  type        = string

  validation {
    condition     = contains(["production", "staging", "lab"], var.environment)
    error_message = "The environment must be one of: production, staging, lab."
  }
}

variable "namespace" {
  description = "Namespace made for Overseerr; its service account is the one the Vault role overseerr is bound to."
  type        = string
  default     = "overseerr"
}

variable "image" {
  description = "Overseerr's image, pinned by tag (multi-arch upstream: linux/amd64 and linux/arm64)."
  type        = string
  nullable    = false
  default     = "sctx/overseerr:1.34.0"
}

variable "litestream_image" {
  description = "Litestream's image for the restore guard and the replicating sidecar: 0.5, the version the Nomad job replicates with (0.5 LTX replicas are not readable by 0.3)."
  type        = string
  nullable    = false
  default     = "litestream/litestream:0.5.17"

  validation {
    condition     = can(regex(":0\\.5\\.[0-9]+$", var.litestream_image))
    error_message = "The litestream_image must be pinned to a Litestream 0.5.x tag (for example litestream/litestream:0.5.17): the replica is in 0.5's LTX format."
  }
}

variable "replicas" {
  description = "Number of Overseerr pods: must be 1 (SQLite has one writer, and two Litestream sidecars would overwrite each other's replica)."
  type        = number
  default     = 1

  validation {
    condition     = var.replicas == 1
    error_message = "The replicas must be 1: SQLite takes one writer and the replica one Litestream. Allowed values: 1."
  }
}

variable "run_as_user" {
  description = "User (and group, and volume group) every container of the pod runs as, so Overseerr and Litestream share the database files."
  type        = number
  default     = 1000
}

variable "hostname" {
  description = "Public hostname the edge Traefik routes to the K3s entry point; overseerr.brmartin.co.uk stays with Nomad."
  type        = string
  default     = "overseerr-k8s.brmartin.co.uk"
}

variable "ingress_class" {
  description = "IngressClass of the platform's in-cluster entry point."
  type        = string
  default     = "k3s-ingress"
}

variable "storage_class" {
  description = "StorageClass of the data claim: local-path (a node's disk). SQLite must not sit on NFS/GlusterFS."
  type        = string
  default     = "local-path"
}

variable "storage_size" {
  description = "Size of the data claim <service>-data holding /app/config."
  type        = string
  default     = "1Gi"
}

variable "env" {
  description = "More environment variables for Overseerr (for example TZ, LOG_LEVEL). Not for secrets."
  type        = map(string)
  default     = {}
}

variable "s3_endpoint" {
  description = "S3 endpoint of the MinIO that holds the replica, for example http://192.168.1.5:9000."
  type        = string

  validation {
    condition     = can(regex("^https?://[^/]+$", var.s3_endpoint))
    error_message = "The s3_endpoint must be http:// or https:// followed by a host and optional port, nothing after."
  }
}

variable "s3_bucket" {
  description = "Bucket of the K3s copy's replica: its own, never the Nomad copy's."
  type        = string
  default     = "overseerr-k8s-litestream"
}

variable "s3_path" {
  description = "Path of the replica inside the bucket."
  type        = string
  default     = "overseerr"
}

variable "s3_region" {
  description = "S3 region (MinIO accepts any; us-east-1 is its default)."
  type        = string
  default     = "us-east-1"
}

variable "sync_interval" {
  description = "How often the sidecar ships WAL changes to the replica (a Litestream duration, for example 1s or 10s)."
  type        = string
  default     = "1s"

  validation {
    condition     = can(regex("^[0-9]+(ms|s|m)$", var.sync_interval))
    error_message = "The sync_interval must be a number followed by ms, s or m (for example 1s)."
  }
}

variable "vault_server" {
  description = "Vault's address as pods reach it, for example https://vault.service.consul:8200."
  type        = string
}

variable "vault_kv_mount" {
  description = "KV version 2 mount holding the app's secrets (Nomad's is nomad)."
  type        = string
  default     = "nomad"
}

variable "vault_secret_path" {
  description = "Path under the mount with the replica's credentials (keys MINIO_ACCESS_KEY and MINIO_SECRET_KEY): the K3s copy's own, never the Nomad job's."
  type        = string
  default     = "default/overseerr-k8s"
}

variable "vault_auth_mount" {
  description = "Path of the Kubernetes auth method the vault stage configured for this cluster."
  type        = string
  default     = "kubernetes"
}

variable "vault_role" {
  description = "Vault role bound to this namespace's overseerr service account (the vault stage made it)."
  type        = string
  default     = "overseerr"
}

variable "resources" {
  description = "Requests and memory limit of the Overseerr container (the VPA recommends within the bounds below)."
  type = object({
    cpu_request    = string
    memory_request = string
    memory_limit   = string
  })
  default = {
    cpu_request    = "50m"
    memory_request = "192Mi"
    memory_limit   = "512Mi"
  }
}

variable "vpa_update_mode" {
  description = "What the VPA does with its recommendation: Off (recommend only), Initial, Recreate or InPlaceOrRecreate."
  type        = string
  default     = "Off"

  validation {
    condition     = contains(["Off", "Initial", "Recreate", "InPlaceOrRecreate"], var.vpa_update_mode)
    error_message = "The vpa_update_mode must be one of: Off, Initial, Recreate, InPlaceOrRecreate."
  }
}

variable "vpa_min_allowed" {
  description = "Lower bound of the VPA's recommendation for the Overseerr container."
  type = object({
    cpu    = string
    memory = string
  })
  default = {
    cpu    = "25m"
    memory = "128Mi"
  }
}

variable "vpa_max_allowed" {
  description = "Upper bound of the VPA's recommendation for the Overseerr container."
  type = object({
    cpu    = string
    memory = string
  })
  default = {
    cpu    = "1"
    memory = "1Gi"
  }
}

variable "mesh_enabled" {
  description = "Enrol the namespace in the mesh (Istio ambient) and allow only mesh_allowed_callers to reach Overseerr."
  type        = bool
  default     = true
}

variable "mesh_trust_domain" {
  description = "The mesh's trust domain, the first part of every caller's principal."
  type        = string
  default     = "cluster.local"
}

variable "mesh_allowed_callers" {
  description = "Service accounts allowed to call Overseerr through the mesh; the entry point's account is needed for the public hostname."
  type = list(object({
    namespace       = string
    service_account = string
  }))
  default = [{ namespace = "k3s-ingress", service_account = "traefik" }]
}
