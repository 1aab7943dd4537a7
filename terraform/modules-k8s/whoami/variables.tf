variable "enable_k8s" {
  description = "Deploy whoami on K3s. False (the default) plans nothing, so the module block can sit beside the Nomad job until the move."
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
  description = "Namespace made for whoami (and its service account)."
  type        = string
  default     = "whoami"
}

variable "image" {
  description = "Container image, pinned by tag (multi-arch upstream: linux/amd64 and linux/arm64)."
  type        = string
  nullable    = false
  default     = "traefik/whoami:v1.11.0"
}

variable "replicas" {
  description = "Number of whoami pods, 1 to 10."
  type        = number
  default     = 1

  validation {
    condition     = var.replicas >= 1 && var.replicas <= 10 && floor(var.replicas) == var.replicas
    error_message = "The replicas must be a whole number from 1 to 10."
  }
}

variable "hostname" {
  description = "Public hostname the edge Traefik routes to the K3s entry point (TLS ends at the edge)."
  type        = string
  default     = "whoami-k8s.brmartin.co.uk"
}

variable "ingress_class" {
  description = "IngressClass of the platform's in-cluster entry point."
  type        = string
  default     = "k3s-ingress"
}

variable "resources" {
  description = "Requests and memory limit of the whoami container (the VPA recommends within vpa_min_allowed and vpa_max_allowed)."
  type = object({
    cpu_request    = string
    memory_request = string
    memory_limit   = string
  })
  default = {
    cpu_request    = "10m"
    memory_request = "16Mi"
    memory_limit   = "64Mi"
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
  description = "Lower bound of the VPA's recommendation for the whoami container."
  type = object({
    cpu    = string
    memory = string
  })
  default = {
    cpu    = "10m"
    memory = "16Mi"
  }
}

variable "vpa_max_allowed" {
  description = "Upper bound of the VPA's recommendation for the whoami container."
  type = object({
    cpu    = string
    memory = string
  })
  default = {
    cpu    = "500m"
    memory = "256Mi"
  }
}

variable "mesh_enabled" {
  description = "Enrol the namespace in the mesh (Istio ambient) and allow only mesh_allowed_callers to reach whoami."
  type        = bool
  default     = true
}

variable "mesh_trust_domain" {
  description = "The mesh's trust domain, the first part of every caller's principal."
  type        = string
  default     = "cluster.local"
}

variable "mesh_allowed_callers" {
  description = "Service accounts allowed to call whoami through the mesh (mTLS identity); every other caller is denied. The entry point's account is needed for the public hostname."
  type = list(object({
    namespace       = string
    service_account = string
  }))
  default = [{ namespace = "k3s-ingress", service_account = "traefik" }]
}
