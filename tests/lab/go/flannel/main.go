// Command flanneld is the lab's flannel agent, in the manner of the one K3s embeds: the
// upstream flannel packages (kube subnet manager, vxlan and host-gw backends, iptables
// masquerade and forward rules), without the cloud backends whose modules the Go proxy
// here does not serve. The node name comes from NODE_NAME, as for flanneld.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/flannel-io/flannel/pkg/backend"
	_ "github.com/flannel-io/flannel/pkg/backend/hostgw"
	_ "github.com/flannel-io/flannel/pkg/backend/vxlan"
	"github.com/flannel-io/flannel/pkg/ip"
	"github.com/flannel-io/flannel/pkg/ipmatch"
	"github.com/flannel-io/flannel/pkg/subnet/kube"
	"github.com/flannel-io/flannel/pkg/trafficmngr/iptables"
	log "k8s.io/klog/v2"
)

func main() {
	kubeconfig := flag.String("kubeconfig-file", "", "kubeconfig for the API")
	iface := flag.String("iface", "", "interface carrying the node address")
	netConf := flag.String("net-config-path", "/etc/kube-flannel/net-conf.json", "network config")
	subnetFile := flag.String("subnet-file", "/run/flannel/subnet.env", "where to write the lease")
	flag.Parse()

	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() { <-sigs; cancel() }()

	sm, err := kube.NewSubnetManager(ctx, "", *kubeconfig, "flannel.alpha.coreos.com", *netConf, false)
	if err != nil {
		log.Fatalf("subnet manager: %v", err)
	}
	config, err := sm.GetNetworkConfig(ctx)
	if err != nil {
		log.Fatalf("network config: %v", err)
	}
	stack, err := ipmatch.GetIPFamily(config.EnableIPv4, config.EnableIPv6)
	if err != nil {
		log.Fatalf("ip family: %v", err)
	}
	ext, err := ipmatch.LookupExtIface(*iface, "", "", stack, ipmatch.PublicIPOpts{})
	if err != nil {
		log.Fatalf("interface %q: %v", *iface, err)
	}
	wg := sync.WaitGroup{}
	be, err := backend.NewManager(ctx, sm, ext).GetBackend(config.BackendType)
	if err != nil {
		log.Fatalf("backend %q: %v", config.BackendType, err)
	}
	bn, err := be.RegisterNetwork(ctx, &wg, config)
	if err != nil {
		log.Fatalf("registering the network: %v", err)
	}
	traffic := &iptables.IPTablesManager{}
	if err := traffic.Init(ctx); err != nil {
		log.Fatalf("iptables: %v", err)
	}
	if err := traffic.SetupAndEnsureMasqRules(ctx, config.Network, ip.IP4Net{}, ip.IP4Net{},
		config.IPv6Network, ip.IP6Net{}, ip.IP6Net{}, bn.Lease(), 5); err != nil {
		log.Fatalf("masquerade rules: %v", err)
	}
	traffic.SetupAndEnsureForwardRules(ctx, config.Network, config.IPv6Network, 5)
	if err := sm.HandleSubnetFile(*subnetFile, config, true, bn.Lease().Subnet, bn.Lease().IPv6Subnet,
		bn.MTU()); err != nil {
		log.Fatalf("subnet file: %v", err)
	}
	log.Infof("wrote %s; running the %s backend", *subnetFile, config.BackendType)
	wg.Add(1)
	go func() { bn.Run(ctx); wg.Done() }()
	if err := sm.CompleteLease(ctx, bn.Lease(), &wg); err != nil {
		log.Errorf("lease: %v", err)
	}
	wg.Wait()
}
