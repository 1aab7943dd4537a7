// Command k8s is the lab's Kubernetes node binary: one multicall program, in the manner
// of K3s's own, that runs the upstream components chosen by its first argument (or by
// the name it was called as). The lab's K3s launcher (tests/standins/k3s.py) starts it
// in K3s's layout; nothing of it reaches roles/ or plugins/.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata" // CronJob time zones, as kube-apiserver and kube-controller-manager ship

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	kubectl "k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

var commands = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubelet":                 kubelet.NewKubeletCommand,
	"kube-proxy":              proxy.NewProxyCommand,
	"kubectl":                 kubectl.NewDefaultKubectlCommand,
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if _, ok := commands[name]; !ok && name != "etcd" {
		if len(args) == 0 {
			fmt.Fprintln(os.Stderr, "usage: k8s etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|kubectl [flags]")
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	if name == "etcd" {
		etcdmain.Main(append([]string{"etcd"}, args...))
		return
	}
	newCommand, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "k8s: unknown component %q\n", name)
		os.Exit(2)
	}
	// Components read os.Args themselves (kubectl's plugin lookup): give each its own.
	os.Args = append([]string{name}, args...)
	command := newCommand()
	if name == "kubectl" {
		if err := cli.RunNoErrOutput(command); err != nil {
			cmdutil.CheckErr(err) // prints the error as kubectl does, and exits
		}
		return
	}
	os.Exit(cli.Run(command))
}
