// Classify a text with a tasnif server from Go (not run in CI: Go modules cannot be
// fetched on the build machines; the Python and Node clients beside it are).
//
//	protoc -Iproto --go_out=. --go-grpc_out=. proto/tasnif/v1/tasnif.proto
//	go run classify.go localhost:50051 "سيطر الجيش على المدينة"
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	tasnif "tasnif/gen/go/tasnif/v1" // go_package in tasnif.proto; go.mod: module tasnif
)

func main() {
	conn, err := grpc.NewClient(os.Args[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := tasnif.NewTopicClassifierClient(conn).Classify(ctx, &tasnif.ClassifyRequest{
		Text:    os.Args[2],
		Include: []tasnif.Include{tasnif.Include_INCLUDE_SEGMENTS},
	})
	if err != nil {
		log.Fatal(err) // e.g. rpc error: code = InvalidArgument desc = text contains no Arabic letters…
	}
	fmt.Println(r.Primary, r.Scores)
	for _, s := range r.Segments {
		fmt.Println(s.Start, s.End, s.Label)
	}
}
