terraform {
  required_version = ">= 1.2.0, < 2.0.0"

  required_providers {
    # Every object goes through kubectl_manifest (server-side apply), CRD objects included:
    # docs/decisions/0013-terraform-apps.md says why this provider and not hashicorp/kubernetes.
    kubectl = {
      source  = "gavinbunney/kubectl"
      version = "~> 1.19"
    }
  }
}
