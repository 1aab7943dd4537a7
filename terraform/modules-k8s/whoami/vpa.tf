# The VPA recommends requests for whoami between the bounds given; "Off" never evicts.
resource "kubectl_manifest" "vpa" {
  count             = local.count
  server_side_apply = true
  yaml_body = yamlencode({
    apiVersion = "autoscaling.k8s.io/v1"
    kind       = "VerticalPodAutoscaler"
    metadata   = { name = "${local.name}-vpa", namespace = var.namespace, labels = local.labels }
    spec = {
      targetRef    = { apiVersion = "apps/v1", kind = "Deployment", name = local.name }
      updatePolicy = { updateMode = var.vpa_update_mode }
      resourcePolicy = {
        containerPolicies = [{
          containerName = local.name
          minAllowed    = var.vpa_min_allowed
          maxAllowed    = var.vpa_max_allowed
        }]
      }
    }
  })
  depends_on = [kubectl_manifest.deployment]
}
