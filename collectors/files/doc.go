// Package files is the `kind: files` collector: backups and other produced
// files, measured through a glob.
//
// # Configuration
//
//	targets:
//	  - name: backups
//	    kind: files
//	    interval: 5m
//	    files:
//	      glob: "/backup/daily/*.tar.zst"   # filepath.Match syntax; relative to the config's folder
//
// Directories matching the glob are not counted. If the glob's fixed
// leading directory cannot be read (missing, permission denied) the
// collector still emits files_count 0 and returns an error: "no backup" and
// "cannot look" both deserve attention, and the second is never reported as
// a healthy empty directory.
//
// # Metrics (no labels of their own)
//
//	files_count                  files matching the glob
//	files_bytes                  their total size
//	files_newest_age_seconds     age of the newest (by mtime; a future mtime is 0); absent when no file matches
//	files_oldest_age_seconds     age of the oldest; absent when no file matches
//	files_newest_bytes           size of the newest (an empty last backup is suspicious)
//
// # Example rules (configs/rules.d/files.yaml): a daily backup kept a week
//
//   - name: BackupStale
//     expr: files_newest_age_seconds > 26h
//   - name: BackupsMissing
//     expr: files_count < 7
//
// Two rules rather than one `||`: with no file at all there is no age, and
// the rules engine only evaluates an expression when every metric it reads
// has data; files_count < 7 catches the empty directory.
package files
