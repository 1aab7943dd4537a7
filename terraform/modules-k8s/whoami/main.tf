# whoami on K3s: stateless, behind the platform's entry point (Ingress), recommended by a
# VPA (vpa.tf), reachable through the mesh only by the callers named (mesh.tf).
locals {
  count            = var.enable_k8s ? 1 : 0
  name             = "whoami"
  port             = 8080
  labels           = { app = local.name, "managed-by" = "terraform", environment = var.environment }
  namespace_labels = merge(local.labels, var.mesh_enabled ? { "istio.io/dataplane-mode" = "ambient" } : {})
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
      replicas = var.replicas
      selector = { matchLabels = { app = local.name } }
      template = {
        metadata = { labels = local.labels }
        spec = {
          serviceAccountName           = local.name
          automountServiceAccountToken = false
          securityContext              = { runAsNonRoot = true, runAsUser = 65534, runAsGroup = 65534, seccompProfile = { type = "RuntimeDefault" } }
          containers = [{
            name  = local.name
            image = var.image
            args  = ["--port", tostring(local.port)]
            ports = [{ name = "http", containerPort = local.port }]
            resources = {
              requests = { cpu = var.resources.cpu_request, memory = var.resources.memory_request }
              limits   = { memory = var.resources.memory_limit }
            }
            readinessProbe  = { httpGet = { path = "/health", port = "http" }, periodSeconds = 10 }
            livenessProbe   = { httpGet = { path = "/health", port = "http" }, periodSeconds = 30 }
            securityContext = { allowPrivilegeEscalation = false, readOnlyRootFilesystem = true, capabilities = { drop = ["ALL"] } }
          }]
        }
      }
    }
  })
  depends_on = [kubectl_manifest.service_account]
}

resource "kubectl_manifest" "service" {
  count             = local.count
  server_side_apply = true
  yaml_body = yamlencode({
    apiVersion = "v1"
    kind       = "Service"
    metadata   = { name = local.name, namespace = var.namespace, labels = local.labels }
    spec = {
      selector = { app = local.name }
      ports    = [{ name = "http", port = 80, targetPort = "http" }]
    }
  })
  depends_on = [kubectl_manifest.namespace]
}

resource "kubectl_manifest" "ingress" {
  count             = local.count
  server_side_apply = true
  yaml_body = yamlencode({
    apiVersion = "networking.k8s.io/v1"
    kind       = "Ingress"
    metadata   = { name = local.name, namespace = var.namespace, labels = local.labels }
    spec = {
      ingressClassName = var.ingress_class
      rules = [{
        host = var.hostname
        http = { paths = [{ path = "/", pathType = "Prefix", backend = { service = { name = local.name, port = { name = "http" } } } }] }
      }]
    }
  })
  depends_on = [kubectl_manifest.service]
}
