package main

import "fmt"

func notBuilt(what string) error { return fmt.Errorf("%s: %w", what, errNotBuilt) }
