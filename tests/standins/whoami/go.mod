module k3s-migration.lab/standins/whoami

go 1.22
