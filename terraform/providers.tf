# The K3s API through the kubeconfig the k3s stage wrote on the controller.
provider "kubectl" {
  load_config_file  = true
  config_path       = var.kubeconfig_path
  config_context    = var.kube_context
  apply_retry_count = 3
}
