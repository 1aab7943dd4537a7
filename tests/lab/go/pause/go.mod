module k3s-migration.lab/pause

go 1.24.0
