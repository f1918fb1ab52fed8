//go:build !unix

package main

func fdLimitFlag() string { return "" }
