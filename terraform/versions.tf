terraform {
  required_version = ">= 1.2.0, < 2.0.0"

  # The operator's state lives in PostgreSQL (conn_str from PG_CONN_STR or -backend-config,
  # never in this file). The lab's terraform_apps run overrides it with a local backend.
  backend "pg" {}

  required_providers {
    kubectl = {
      source  = "gavinbunney/kubectl"
      version = "~> 1.19"
    }
  }
}
