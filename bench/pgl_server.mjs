// PostGraphile 5 for the bench: N node processes (node:cluster) sharing one port.
//
// Copied into bench/.work/postgraphile (where its node_modules are) and run by
// bench/systems.py. Environment:
//   BENCH_PGL_DSN      connection string: a LOGIN role under the row scope
//                      (RLS, or views), so no pgSettings and no transaction
//                      per request
//   BENCH_PGL_SCHEMA   the schema to expose (public, or bench_view)
//   BENCH_PGL_PORT     the port every process listens on
//   BENCH_PGL_WORKERS  node processes (as many as the gateway's workers)
//   BENCH_PGL_POOL     pg pool size in each process (at least the concurrency)
import cluster from "node:cluster";
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";

const workers = Number(process.env.BENCH_PGL_WORKERS || "1");

if (cluster.isPrimary && workers > 1) {
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on("exit", (worker, code) => {
    console.error(`postgraphile worker ${worker.process.pid} exited (${code})`);
    process.exit(1);
  });
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => {
      for (const id in cluster.workers) cluster.workers[id].process.kill("SIGTERM");
      process.exit(0);
    });
  }
} else {
  const preset = {
    extends: [PostGraphileAmberPreset],
    pgServices: [
      makePgService({
        connectionString: process.env.BENCH_PGL_DSN,
        schemas: [process.env.BENCH_PGL_SCHEMA || "public"],
        poolConfig: { max: Number(process.env.BENCH_PGL_POOL || "16") },
      }),
    ],
    grafast: { explain: false },
    grafserv: { graphiql: false, watch: false },
  };
  const pgl = postgraphile(preset);
  const serv = pgl.createServ(grafserv);
  const server = createServer();
  serv.addTo(server).catch((error) => {
    console.error(error);
    process.exit(1);
  });
  server.keepAliveTimeout = 65000;
  server.listen(Number(process.env.BENCH_PGL_PORT), "127.0.0.1");
  process.on("SIGTERM", () => {
    server.close();
    process.exit(0);
  });
}
