# A second service that calls whoami through the mesh: one pod whose loop asks whoami's
# Service every interval and logs the answer's first line (or the refusal). Its service
# account is its mesh identity; whoami's AuthorizationPolicy names it (output principal).
locals {
  count            = var.enable_k8s ? 1 : 0
  name             = "whoami-client"
  labels           = { app = local.name, "managed-by" = "terraform", environment = var.environment }
  namespace_labels = merge(local.labels, var.mesh_enabled ? { "istio.io/dataplane-mode" = "ambient" } : {})
  loop             = <<-EOT
    trap 'exit 0' TERM
    while true; do
      if answer=$(wget -q -O- "$TARGET_URL"); then
        echo "ok $(echo "$answer" | head -n 1)"
      else
        echo "refused $TARGET_URL"
      fi
      sleep "$INTERVAL" & wait $!
    done
  EOT
}

resource "kubectl_manifest" "namespace" {
  count             = local.count
  server_side_apply = true
  wait              = true
  yaml_body = yamlencode({
    apiVersion = "v1"
    kind       = "Namespace"
    metadata   = { name = var.namespace, labels = local.namespace_labels }
  })
}

resource "kubectl_manifest" "service_account" {
  count             = local.count
  server_side_apply = true
  yaml_body = yamlencode({
    apiVersion                   = "v1"
    kind                         = "ServiceAccount"
    metadata                     = { name = local.name, namespace = var.namespace, labels = local.labels }
    automountServiceAccountToken = false
  })
  depends_on = [kubectl_manifest.namespace]
}

resource "kubectl_manifest" "deployment" {
  count             = local.count
  server_side_apply = true
  wait_for_rollout  = true
  yaml_body = yamlencode({
    apiVersion = "apps/v1"
    kind       = "Deployment"
    metadata   = { name = local.name, namespace = var.namespace, labels = local.labels }
    spec = {
      replicas = 1
      selector = { matchLabels = { app = local.name } }
      template = {
        metadata = { labels = local.labels }
        spec = {
          serviceAccountName           = local.name
          automountServiceAccountToken = false
          securityContext              = { runAsNonRoot = true, runAsUser = 65534, runAsGroup = 65534, seccompProfile = { type = "RuntimeDefault" } }
          containers = [{
            name    = local.name
            image   = var.image
            command = ["/bin/sh", "-c", local.loop]
            env = [
              { name = "TARGET_URL", value = var.target_url },
              { name = "INTERVAL", value = tostring(var.interval_seconds) },
            ]
            resources       = { requests = { cpu = "5m", memory = "8Mi" }, limits = { memory = "32Mi" } }
            securityContext = { allowPrivilegeEscalation = false, readOnlyRootFilesystem = true, capabilities = { drop = ["ALL"] } }
          }]
        }
      }
    }
  })
  depends_on = [kubectl_manifest.service_account]
}
