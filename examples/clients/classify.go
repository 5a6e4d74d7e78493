// Classify a text with a tasnif server from Go. With Go modules:
//
//	protoc -Iproto --go_out=. --go-grpc_out=. proto/tasnif/v1/tasnif.proto
//	go run classify.go localhost:50051 "سيطر الجيش على المدينة"
//
// (go.mod: module tasnif, requiring google.golang.org/grpc and google.golang.org/protobuf).
// tests/cli.rs runs it in GOPATH mode against Debian's Go packages (grpc-go 1.33), so it
// sticks to calls every grpc-go since then has (grpc.Dial, grpc.WithInsecure: deprecated in
// newer releases, not removed; there, grpc.NewClient and insecure.NewCredentials()).
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"

	tasnif "tasnif/gen/go/tasnif/v1" // go_package in tasnif.proto
)

func main() {
	conn, err := grpc.Dial(os.Args[1], grpc.WithInsecure())
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
	fmt.Print(r.Primary)
	for _, s := range r.Scores {
		fmt.Printf(" %s:%.3f", s.Label, s.Probability)
	}
	fmt.Println()
	for _, s := range r.Segments {
		fmt.Println(s.Start, s.End, s.Label)
	}
}
