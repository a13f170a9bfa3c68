// Package kubesecret writes files the way the kubelet mounts a Secret
// volume, so tests and tools can rotate a secret exactly as a cluster does.
package kubesecret

import (
	"os"
	"path/filepath"
	"time"
)

// dataLink is the kubelet's name for the link to the current version.
const dataLink = "..data"

// Write lays out files in dir as the kubelet does: name -> ..data/name,
// ..data -> ..<timestamp>.<random>/ holding the contents. Writing again
// swaps ..data atomically by renaming a new link over it, so a reader sees
// either every old file or every new one, never a mix; the previous
// version directory is then removed, as the kubelet removes it.
func Write(dir string, files map[string]string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	version, err := os.MkdirTemp(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05.")+"*")
	if err != nil {
		return err
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(version, name), []byte(content), 0o600); err != nil {
			return err
		}
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join(dataLink, name), link); err != nil {
				return err
			}
		}
	}
	previous, _ := os.Readlink(filepath.Join(dir, dataLink))
	tmp := filepath.Join(dir, dataLink+"_tmp")
	if err := os.Symlink(filepath.Base(version), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		return err
	}
	if previous != "" {
		return os.RemoveAll(filepath.Join(dir, previous))
	}
	return nil
}
