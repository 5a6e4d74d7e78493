// Classify a text with a tasnif server from Node.js.
//   npm install @grpc/grpc-js @grpc/proto-loader
//   node classify.js localhost:50051 "سيطر الجيش على المدينة"
// (run from the repository root, or set TASNIF_PROTO to tasnif.proto's path)
const grpc = require("@grpc/grpc-js");
const loader = require("@grpc/proto-loader");

const [addr, text] = process.argv.slice(2);
const proto = process.env.TASNIF_PROTO || "proto/tasnif/v1/tasnif.proto";
const definition = loader.loadSync(proto, { longs: String, enums: String });
const tasnif = grpc.loadPackageDefinition(definition).tasnif.v1;
const client = new tasnif.TopicClassifier(addr, grpc.credentials.createInsecure());
const request = { text, include: ["INCLUDE_SEGMENTS"] };
client.Classify(request, { deadline: Date.now() + 10000 }, (err, r) => {
  if (err) {
    console.error(`${grpc.status[err.code]}: ${err.details}`);
    process.exit(1);
  }
  console.log(r.primary, r.scores.map((s) => `${s.label}:${s.probability.toFixed(3)}`).join(" "));
  for (const s of r.segments) console.log(s.start, s.end, s.label);
  client.close();
});
