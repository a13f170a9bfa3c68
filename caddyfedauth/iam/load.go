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

// LoadObjects reads the IAM objects at path (ReadFiles) and parses them.
func LoadObjects(path string) ([]Object, error) {
	files, err := ReadFiles(path)
	if err != nil {
		return nil, err
	}
	return ParseFiles(files)
}

// File is one file of IAM objects, as read.
type File struct {
	Name string
	Data []byte
}

// ReadFiles reads the Files at path. A watcher compares what it read
// with the last read, and parses (ParseFiles) the very bytes it compared.
func ReadFiles(path string) ([]File, error) {
	names, err := Files(path)
	if err != nil {
		return nil, err
	}
	files := make([]File, 0, len(names))
	var errs []error
	for _, name := range names {
		data, err := readFile(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files, File{Name: name, Data: data})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return files, nil
}

// ParseFiles parses each file (Parse), reporting every file's errors.
func ParseFiles(files []File) ([]Object, error) {
	var (
		objs []Object
		errs []error
	)
	for _, f := range files {
		o, err := Parse(f.Name, f.Data)
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

// Files lists the files LoadObjects reads at path: path itself when it
// is a file, else the directory's *.yaml, *.yml and *.json files (not its
// subdirectories), in name order. Entries whose names start with '.' are
// skipped, and symbolic links are followed, so a Kubernetes ConfigMap or
// Secret volume (name -> ..data/name, ..data -> ..<timestamp>/) reads as
// its keys. A directory without such files is an empty set, which denies
// everything.
func Files(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading IAM objects: %w", err)
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("reading IAM objects: %w", err)
	}
	var (
		files []string
		errs  []error
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
		if fi.Mode().IsRegular() {
			files = append(files, file)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return files, nil
}

func readFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fileErr(file, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fileErr(file, err)
	}
	return data, nil
}

// fileErr names the file once: *fs.PathError names it too.
func fileErr(file string, err error) *Error {
	if pe, ok := err.(*fs.PathError); ok {
		err = fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return &Error{File: file, Err: err}
}
