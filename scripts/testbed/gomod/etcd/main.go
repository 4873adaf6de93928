// Wrapper so etcd can be built from its server module (which has replace directives that
// `go install` refuses): it does what upstream server/main.go does.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
