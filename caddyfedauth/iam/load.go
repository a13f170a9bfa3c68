package iam

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Load reads the IAM objects at path (LoadObjects) and compiles them.
func Load(path string) (*Set, error) {
	objs, err := LoadObjects(path)
	if err != nil {
		return nil, err
	}
	return Compile(objs)
}

// LoadObjects reads the IAM objects at path: a file, or a directory's
// *.yaml, *.yml and *.json files (not its subdirectories), in name order.
// Entries whose names start with '.' are skipped, and symbolic links are
// followed, so a Kubernetes ConfigMap or Secret volume (name ->
// ..data/name, ..data -> ..<timestamp>/) reads as its keys. A directory
// without such files is an empty set, which denies everything.
func LoadObjects(path string) ([]Object, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading IAM objects: %w", err)
	}
	if !fi.IsDir() {
		return loadFile(path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("reading IAM objects: %w", err)
	}
	var (
		objs []Object
		errs []error
	)
	for _, e := range entries {
		name := e.Name()
		switch strings.ToLower(filepath.Ext(name)) {
		case ".yaml", ".yml", ".json":
		default:
			continue
		}
		if strings.HasPrefix(name, ".") {
			continue
		}
		file := filepath.Join(path, name)
		fi, err := os.Stat(file) // follows the link
		if err != nil {
			errs = append(errs, fileErr(file, err))
			continue
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		o, err := loadFile(file)
		objs = append(objs, o...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return objs, nil
}

func loadFile(file string) ([]Object, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fileErr(file, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fileErr(file, err)
	}
	return Parse(file, data)
}

// fileErr names the file once: *fs.PathError names it too.
func fileErr(file string, err error) *Error {
	if pe, ok := err.(*fs.PathError); ok {
		err = fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return &Error{File: file, Err: err}
}
