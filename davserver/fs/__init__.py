"""The file system under the share: safe paths, trees, uploads, recovery, hidden names."""
