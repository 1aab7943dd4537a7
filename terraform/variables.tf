variable "kubeconfig_path" {
  description = "Kubeconfig of the K3s cluster, the file the k3s stage wrote (k3s_kubeconfig_dest)."
  type        = string
}

variable "kube_context" {
  description = "Context of the kubeconfig to use; null takes its current context."
  type        = string
  default     = null
}

variable "environment" {
  description = "Environment label on every object: one of production, staging, lab."
  type        = string
  default     = "production"

  validation {
    condition     = contains(["production", "staging", "lab"], var.environment)
    error_message = "The environment must be one of: production, staging, lab."
  }
}

variable "enable_k8s" {
  description = "Which services run on K3s (each module's enable_k8s): whoami, whoami_client, overseerr."
  type = object({
    whoami        = optional(bool, false)
    whoami_client = optional(bool, false)
    overseerr     = optional(bool, false)
  })
  default = {}
}

variable "whoami_replicas" {
  description = "Number of whoami pods on K3s, 1 to 10."
  type        = number
  default     = 1
}

variable "overseerr_replicas" {
  description = "Number of Overseerr pods on K3s; the module allows only 1 (SQLite, one Litestream)."
  type        = number
  default     = 1
}

variable "images" {
  description = "Images to run instead of the modules' pinned defaults (a registry mirror, or the lab's builds); null keeps a module's default."
  type = object({
    whoami        = optional(string)
    whoami_client = optional(string)
    overseerr     = optional(string)
    litestream    = optional(string)
  })
  default = {}
}

variable "vault_server" {
  description = "Vault's address as pods reach it."
  type        = string
  default     = "https://vault.service.consul:8200"
}

variable "s3_endpoint" {
  description = "S3 endpoint of the MinIO holding Overseerr's replica."
  type        = string
  default     = "http://minio-s3.service.consul:9000"
}

variable "overseerr_env" {
  description = "More environment variables for Overseerr on K3s (not for secrets)."
  type        = map(string)
  default     = {}
}

variable "vpa_update_mode" {
  description = "VPA update mode of every service: Off (recommend only), Initial, Recreate or InPlaceOrRecreate."
  type        = string
  default     = "Off"
}

variable "mesh_enabled" {
  description = "Enrol the services in the mesh and apply their authorization policies."
  type        = bool
  default     = true
}
