// LAB STAND-IN for Overseerr (sctx/overseerr), which cannot be built here: its image is a
// Node.js application, not a Go module. It keeps the parts of Overseerr's contract that
// the collection's storage, Litestream and Terraform tests rely on, nothing more:
//   - HTTP on :5055 (PORT overrides), health at GET /api/v1/status answering JSON with
//     "version", as Overseerr's does;
//   - its SQLite database at <config>/db/db.sqlite3 (CONFIG_DIR, default /app/config), in
//     WAL mode, so Litestream can replicate it;
//   - a write path: POST /api/v1/request {"mediaType": "movie", "mediaId": 603} stores a
//     request, GET /api/v1/request lists them ({"pageInfo": {"results": N}, "results": [...]}).
// It refuses to start when the database directory is missing (no silent empty start).
package main

import (
	"database/sql"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite"
)

const version = "stand-in-1.0.0"

type request struct {
	ID        int64  `json:"id"`
	MediaType string `json:"mediaType"`
	MediaID   int64  `json:"mediaId"`
	CreatedAt string `json:"createdAt"`
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func open(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	_, err = db.Exec(`CREATE TABLE IF NOT EXISTS media_request (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		media_type TEXT NOT NULL,
		media_id INTEGER NOT NULL,
		created_at TEXT NOT NULL)`)
	return db, err
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func main() {
	dir := filepath.Join(env("CONFIG_DIR", "/app/config"), "db")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		log.Fatalf("database directory %s is missing: %v", dir, err)
	}
	db, err := open(filepath.Join(dir, "db.sqlite3"))
	if err != nil {
		log.Fatalf("opening the database: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		if err := db.Ping(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"version": version, "commitTag": "stand-in", "restartRequired": false})
	})
	mux.HandleFunc("POST /api/v1/request", func(w http.ResponseWriter, r *http.Request) {
		var in request
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.MediaType == "" || in.MediaID == 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want {\"mediaType\": ..., \"mediaId\": ...}"})
			return
		}
		in.CreatedAt = time.Now().UTC().Format(time.RFC3339Nano)
		res, err := db.Exec(`INSERT INTO media_request (media_type, media_id, created_at) VALUES (?, ?, ?)`,
			in.MediaType, in.MediaID, in.CreatedAt)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		in.ID, _ = res.LastInsertId()
		writeJSON(w, http.StatusCreated, in)
	})
	mux.HandleFunc("GET /api/v1/request", func(w http.ResponseWriter, r *http.Request) {
		rows, err := db.Query(`SELECT id, media_type, media_id, created_at FROM media_request ORDER BY id`)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		defer rows.Close()
		out := []request{}
		for rows.Next() {
			var q request
			if err := rows.Scan(&q.ID, &q.MediaType, &q.MediaID, &q.CreatedAt); err != nil {
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
				return
			}
			out = append(out, q)
		}
		writeJSON(w, http.StatusOK, map[string]any{"pageInfo": map[string]int{"results": len(out)}, "results": out})
	})
	addr := ":" + env("PORT", "5055")
	log.Printf("overseerr stand-in %s on %s, database %s", version, addr, dir)
	// PID 1 in its container: the kernel delivers SIGTERM only to a handler. Stop on it,
	// closing the database (a checkpointed WAL), as Overseerr does.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() { log.Fatal(http.ListenAndServe(addr, mux)) }()
	<-stop
	_ = db.Close()
	log.Print("stopping")
}
