# The replica's S3 credentials come from Vault through the platform's External Secrets
# Operator: a SecretStore logging in as this namespace's overseerr account (the vault
# stage's role), an ExternalSecret writing the Secret the Litestream containers read.
# No credential is in this repository or in Terraform's state.
resource "kubectl_manifest" "secret_store" {
  count             = local.count
  server_side_apply = true
  yaml_body = yamlencode({
    apiVersion = "external-secrets.io/v1"
    kind       = "SecretStore"
    metadata   = { name = "${local.name}-vault", namespace = var.namespace, labels = local.labels }
    spec = {
      provider = {
        vault = {
          server  = var.vault_server
          path    = var.vault_kv_mount
          version = "v2"
          auth = {
            kubernetes = {
              mountPath         = var.vault_auth_mount
              role              = var.vault_role
              serviceAccountRef = { name = local.name }
            }
          }
        }
      }
    }
  })
  depends_on = [kubectl_manifest.service_account]
}

resource "kubectl_manifest" "external_secret" {
  count             = local.count
  server_side_apply = true
  yaml_body = yamlencode({
    apiVersion = "external-secrets.io/v1"
    kind       = "ExternalSecret"
    metadata   = { name = "${local.name}-litestream", namespace = var.namespace, labels = local.labels }
    spec = {
      refreshInterval = "1h"
      secretStoreRef  = { kind = "SecretStore", name = "${local.name}-vault" }
      target = {
        name           = "${local.name}-litestream"
        creationPolicy = "Owner"
        template       = { metadata = { labels = local.labels } }
      }
      data = [
        { secretKey = "LITESTREAM_ACCESS_KEY_ID", remoteRef = { key = var.vault_secret_path, property = "MINIO_ACCESS_KEY" } },
        { secretKey = "LITESTREAM_SECRET_ACCESS_KEY", remoteRef = { key = var.vault_secret_path, property = "MINIO_SECRET_KEY" } },
      ]
    }
  })
  depends_on = [kubectl_manifest.secret_store]
}
