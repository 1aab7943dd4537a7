# Overseerr on K3s: one pod on a local-path claim, its SQLite database replicated by a
# Litestream sidecar to its own bucket, and restored by an init container that refuses to
# let Overseerr start on an empty database while a replica exists (the failure that once
# replicated an empty database over a good backup).
locals {
  count            = var.enable_k8s ? 1 : 0
  name             = "overseerr"
  port             = 5055
  config_dir       = "/app/config"
  db_path          = "${local.config_dir}/db/db.sqlite3"
  litestream_conf  = "/etc/litestream/litestream.yml"
  labels           = { app = local.name, "managed-by" = "terraform", environment = var.environment }
  namespace_labels = merge(local.labels, var.mesh_enabled ? { "istio.io/dataplane-mode" = "ambient" } : {})

  litestream_config = yamlencode({
    dbs = [{
      path = local.db_path
      replica = {
        type             = "s3"
        bucket           = var.s3_bucket
        path             = var.s3_path
        endpoint         = var.s3_endpoint
        region           = var.s3_region
        force-path-style = true
        sync-interval    = var.sync_interval
      }
    }]
  })

  # The guard. A database on the claim: nothing to do (a restart). None: restore the
  # newest replica if there is one. Exit non-zero, which keeps Overseerr from starting,
  # when the replica cannot be listed, the restore fails, or a replica exists and the
  # restore left no database or an empty file. No replica at all: start empty.
  restore_script = <<-EOT
    db='${local.db_path}'
    conf='${local.litestream_conf}'
    mkdir -p "$(dirname "$db")"
    if [ -e "$db" ]; then
      echo "guard: $db is on the claim, no restore"
      exit 0
    fi
    listing=$(litestream ltx -config "$conf" "$db") || { echo "guard: cannot list the replica: refusing to start" >&2; exit 1; }
    files=$(echo "$listing" | grep -c '^[0-9]' || true)
    if [ "$files" -eq 0 ]; then
      echo "guard: no replica and no database: Overseerr starts empty"
      exit 0
    fi
    echo "guard: no database, the replica has $files LTX files: restoring"
    litestream restore -config "$conf" -if-db-not-exists "$db" || { echo "guard: the restore failed: refusing to start" >&2; exit 1; }
    if [ ! -s "$db" ]; then
      echo "guard: the restore left no database although a replica exists: refusing to start" >&2
      exit 1
    fi
    echo "guard: restored $(wc -c < "$db") bytes"
  EOT

  litestream_env = [
    { name = "LITESTREAM_ACCESS_KEY_ID", valueFrom = { secretKeyRef = { name = "${local.name}-litestream", key = "LITESTREAM_ACCESS_KEY_ID" } } },
    { name = "LITESTREAM_SECRET_ACCESS_KEY", valueFrom = { secretKeyRef = { name = "${local.name}-litestream", key = "LITESTREAM_SECRET_ACCESS_KEY" } } },
  ]
  mounts = [
    { name = "data", mountPath = local.config_dir },
    { name = "litestream", mountPath = dirname(local.litestream_conf), readOnly = true },
    { name = "tmp", mountPath = "/tmp" },
  ]
  container_security = { allowPrivilegeEscalation = false, capabilities = { drop = ["ALL"] } }
  # Litestream writes only to the database's directory and /tmp (both volumes).
  litestream_security = merge(local.container_security, { readOnlyRootFilesystem = true })
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
    apiVersion = "v1"
    kind       = "ServiceAccount"
    metadata   = { name = local.name, namespace = var.namespace, labels = local.labels }
  })
  depends_on = [kubectl_manifest.namespace]
}

resource "kubectl_manifest" "litestream_config" {
  count             = local.count
  server_side_apply = true
  yaml_body = yamlencode({
    apiVersion = "v1"
    kind       = "ConfigMap"
    metadata   = { name = "${local.name}-litestream", namespace = var.namespace, labels = local.labels }
    data       = { "litestream.yml" = local.litestream_config }
  })
  depends_on = [kubectl_manifest.namespace]
}

# The claim holds the live database only; the data's durable home is the replica in the
# bucket, which destroying this module never touches (re-creating it restores from there).
resource "kubectl_manifest" "data" {
  count             = local.count
  server_side_apply = true
  wait              = true
  yaml_body = yamlencode({
    apiVersion = "v1"
    kind       = "PersistentVolumeClaim"
    metadata   = { name = "${local.name}-data", namespace = var.namespace, labels = local.labels }
    spec = {
      accessModes      = ["ReadWriteOnce"]
      storageClassName = var.storage_class
      resources        = { requests = { storage = var.storage_size } }
    }
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
      strategy = { type = "Recreate" }
      selector = { matchLabels = { app = local.name } }
      template = {
        metadata = {
          labels      = local.labels
          annotations = { "checksum/litestream" = sha256(local.litestream_config) }
        }
        spec = {
          serviceAccountName           = local.name
          automountServiceAccountToken = false
          securityContext = {
            runAsNonRoot   = true
            runAsUser      = var.run_as_user
            runAsGroup     = var.run_as_user
            fsGroup        = var.run_as_user
            seccompProfile = { type = "RuntimeDefault" }
          }
          initContainers = [{
            name            = "litestream-restore"
            image           = var.litestream_image
            command         = ["/bin/sh", "-ec", local.restore_script]
            env             = local.litestream_env
            volumeMounts    = local.mounts
            resources       = { requests = { cpu = "10m", memory = "32Mi" }, limits = { memory = "256Mi" } }
            securityContext = local.litestream_security
          }]
          containers = [
            {
              name  = local.name
              image = var.image
              env = concat(
                [{ name = "PORT", value = tostring(local.port) }],
                [for k, v in var.env : { name = k, value = v }],
              )
              ports        = [{ name = "http", containerPort = local.port }]
              volumeMounts = [{ name = "data", mountPath = local.config_dir }]
              resources = {
                requests = { cpu = var.resources.cpu_request, memory = var.resources.memory_request }
                limits   = { memory = var.resources.memory_limit }
              }
              readinessProbe  = { httpGet = { path = "/api/v1/status", port = "http" }, periodSeconds = 10 }
              livenessProbe   = { httpGet = { path = "/api/v1/status", port = "http" }, periodSeconds = 30, failureThreshold = 5 }
              securityContext = local.container_security
            },
            {
              name            = "litestream"
              image           = var.litestream_image
              command         = ["litestream", "replicate", "-config", local.litestream_conf]
              env             = local.litestream_env
              volumeMounts    = local.mounts
              resources       = { requests = { cpu = "10m", memory = "32Mi" }, limits = { memory = "256Mi" } }
              securityContext = local.litestream_security
            },
          ]
          volumes = [
            { name = "data", persistentVolumeClaim = { claimName = "${local.name}-data" } },
            { name = "litestream", configMap = { name = "${local.name}-litestream" } },
            { name = "tmp", emptyDir = { sizeLimit = "256Mi" } },
          ]
        }
      }
    }
  })
  depends_on = [kubectl_manifest.service_account, kubectl_manifest.litestream_config, kubectl_manifest.data, kubectl_manifest.external_secret]
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
      ports    = [{ name = "http", port = local.port, targetPort = "http" }]
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
