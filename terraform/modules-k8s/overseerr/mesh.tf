# Only the callers named reach Overseerr: an ALLOW policy on its pod makes the mesh deny
# every other identity (mTLS is STRICT mesh-wide, set by the platform stage).
resource "kubectl_manifest" "authorization_policy" {
  count             = var.enable_k8s && var.mesh_enabled ? 1 : 0
  server_side_apply = true
  yaml_body = yamlencode({
    apiVersion = "security.istio.io/v1"
    kind       = "AuthorizationPolicy"
    metadata   = { name = local.name, namespace = var.namespace, labels = local.labels }
    spec = {
      selector = { matchLabels = { app = local.name } }
      action   = "ALLOW"
      rules = [{
        from = [{ source = { principals = [for c in var.mesh_allowed_callers : "${var.mesh_trust_domain}/ns/${c.namespace}/sa/${c.service_account}"] } }]
      }]
    }
  })
  depends_on = [kubectl_manifest.namespace]
}
