variable "enable_k8s" {
  description = "Deploy the mesh client on K3s. False (the default) plans nothing."
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
  description = "Namespace made for the client (and its service account, its mesh identity)."
  type        = string
  default     = "whoami-client"
}

variable "image" {
  description = "Image with a shell and wget that runs the calling loop, pinned by tag (multi-arch upstream)."
  type        = string
  nullable    = false
  default     = "busybox:1.37.0"
}

variable "target_url" {
  description = "URL the client calls, whoami's Service through the mesh (the whoami module's service_url output)."
  type        = string

  validation {
    condition     = can(regex("^http://[a-z0-9.-]+(:[0-9]+)?(/.*)?$", var.target_url))
    error_message = "The target_url must be a plain http:// URL of a Service (the mesh adds mTLS): for example http://whoami.whoami.svc.cluster.local."
  }
}

variable "interval_seconds" {
  description = "Seconds between two calls, 1 to 3600."
  type        = number
  default     = 30

  validation {
    condition     = var.interval_seconds >= 1 && var.interval_seconds <= 3600
    error_message = "The interval_seconds must be from 1 to 3600."
  }
}

variable "mesh_enabled" {
  description = "Enrol the namespace in the mesh (Istio ambient), so its calls carry the client's mTLS identity."
  type        = bool
  default     = true
}

variable "mesh_trust_domain" {
  description = "The mesh's trust domain, the first part of the client's principal (output principal)."
  type        = string
  default     = "cluster.local"
}
