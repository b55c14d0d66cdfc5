/**
 * The ZooKeeper side of `npm run bench:cluster -- --compare`: a 3-server ZooKeeper 3.8 ensemble (Debian's
 * `zookeeper` package: /usr/share/java/zookeeper.jar, run as `java … QuorumPeerMain zoo.cfg`, no systemd) on
 * 127.0.0.1 with its own config and data directories in a temp dir, driven with `node-zookeeper-client`.
 *
 * ZooKeeper runs with its defaults (tickTime 2000, initLimit 10, syncLimit 5, forceSync yes: it fsyncs its txn log
 * per group commit) plus what a local ensemble needs: dataDir, clientPort, server.N lines, and the `srvr`
 * four-letter word (to find the leader). The JVM gets 512 MiB of heap.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as net from "node:net"
import * as path from "node:path"

export const ZK_JAR = "/usr/share/java/zookeeper.jar"

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The few calls of node-zookeeper-client the benchmark uses (the package ships no types). */
export interface ZkClient {
  connect(): void
  close(): void
  once(event: "connected" | "disconnected" | "expired", cb: () => void): void
  on(event: "state", cb: (s: { name: string }) => void): void
  create(path: string, data: Buffer, cb: (error: Error | null, path?: string) => void): void
  setData(path: string, data: Buffer, version: number, cb: (error: Error | null) => void): void
  getState(): { name: string }
}
interface ZkModule {
  createClient(connectionString: string, options?: { sessionTimeout?: number; spinDelay?: number; retries?: number }): ZkClient
  Exception: { NO_NODE: number; NODE_EXISTS: number }
}
export const zookeeperClient = (): ZkModule => createRequire(import.meta.url)("node-zookeeper-client") as ZkModule

export interface ZkServer {
  readonly id: number
  readonly clientPort: number
  readonly proc: ChildProcess
  readonly exited: Promise<void>
}

export interface ZkEnsemble {
  readonly version: string
  readonly servers: ReadonlyArray<ZkServer>
  readonly log: () => string
  readonly stop: () => Promise<void>
}

export const zookeeperAvailable = (): boolean => fs.existsSync(ZK_JAR) && fs.existsSync("/usr/bin/java")

/** The version from the jar's file name or manifest, e.g. "3.8.0". */
export const zookeeperVersion = (): string => {
  const real = fs.realpathSync(ZK_JAR)
  return /zookeeper-(\d+\.\d+\.\d+)/.exec(real)?.[1] ?? "3.8"
}

/**
 * Starts servers 1..3: peer ports base+1..3, election ports base+101..103, client ports base+1001..1003 (the
 * caller picks a base with those free).
 */
export const startZookeeper = (dir: string, base: number): ZkEnsemble => {
  const ids = [1, 2, 3]
  let log = ""
  const servers = ids.map((id): ZkServer => {
    const dataDir = path.join(dir, `zk${id}`)
    fs.mkdirSync(dataDir, { recursive: true })
    fs.writeFileSync(path.join(dataDir, "myid"), `${id}\n`)
    const cfg = path.join(dir, `zoo${id}.cfg`)
    fs.writeFileSync(
      cfg,
      [
        "tickTime=2000",
        "initLimit=10",
        "syncLimit=5",
        `dataDir=${dataDir}`,
        `clientPort=${base + 1000 + id}`,
        "clientPortAddress=127.0.0.1",
        "maxClientCnxns=0",
        "admin.enableServer=false",
        "4lw.commands.whitelist=srvr",
        ...ids.map((i) => `server.${i}=127.0.0.1:${base + i}:${base + 100 + i}`),
        "",
      ].join("\n"),
    )
    fs.writeFileSync(path.join(dir, `log4j${id}.properties`), "log4j.rootLogger=WARN, CONSOLE\nlog4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\nlog4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\nlog4j.appender.CONSOLE.layout.ConversionPattern=%d %p %c{1} - %m%n\n")
    const proc = spawn(
      "/usr/bin/java",
      [
        "-Xmx512m",
        `-Dlog4j.configuration=file:${path.join(dir, `log4j${id}.properties`)}`,
        "-Dzookeeper.log.dir=" + dataDir,
        "-cp",
        `${ZK_JAR}:/usr/share/java/*`,
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        cfg,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    )
    const append = (c: Buffer) => {
      if (log.length < 1_000_000) log += c.toString().replace(/^(?=.)/gm, `[zk${id}] `)
    }
    proc.stdout?.on("data", append)
    proc.stderr?.on("data", append)
    const exited = new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve()
      else proc.once("exit", () => resolve())
    })
    return { id, clientPort: base + 1000 + id, proc, exited }
  })
  const stop = async (): Promise<void> => {
    for (const s of servers) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill("SIGTERM")
    const all = Promise.all(servers.map((s) => s.exited))
    if (await Promise.race([all.then(() => false), sleep(5000).then(() => true)])) {
      for (const s of servers) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill("SIGKILL")
    }
    await all
  }
  return { version: zookeeperVersion(), servers, log: () => log, stop }
}

/** `srvr` four-letter word: the server's mode ("leader", "follower", …) or undefined if it does not answer. */
export const zkMode = (port: number): Promise<string | undefined> =>
  new Promise((resolve) => {
    let text = ""
    const s = net.connect({ host: "127.0.0.1", port }, () => s.write("srvr"))
    s.setTimeout(2000, () => s.destroy())
    s.on("data", (c: Buffer) => (text += c.toString()))
    s.on("error", () => resolve(undefined))
    s.on("close", () => resolve(/Mode: (\w+)/.exec(text)?.[1]))
  })

/** The server in mode "leader" (skipping `exclude`), polled until `timeoutMs`. */
export const zkLeader = async (ensemble: ZkEnsemble, exclude?: number, timeoutMs = 120_000): Promise<ZkServer> => {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    for (const s of ensemble.servers) {
      if (s.id === exclude || s.proc.exitCode !== null || s.proc.signalCode !== null) continue
      if ((await zkMode(s.clientPort)) === "leader") return s
    }
    await sleep(50)
  }
  throw new Error(`ZooKeeper elected no leader; log:\n${ensemble.log().slice(-4000)}`)
}

/** A connected client (one session) to `hosts` ("127.0.0.1:port,…"). */
export const zkConnect = (hosts: string, timeoutMs = 60_000): Promise<ZkClient> =>
  new Promise((resolve, reject) => {
    const client = zookeeperClient().createClient(hosts, { sessionTimeout: 30_000, spinDelay: 20, retries: 1000 })
    const timer = setTimeout(() => {
      client.close()
      reject(new Error(`no ZooKeeper session with ${hosts} within ${timeoutMs} ms`))
    }, timeoutMs)
    client.once("connected", () => {
      clearTimeout(timer)
      resolve(client)
    })
    client.connect()
  })

/** Writes `data` at `path`: create, or setData if it exists (one round trip when `known` says it exists). */
export const zkWrite = (client: ZkClient, p: string, data: string, known: Set<string>): Promise<boolean> =>
  new Promise((resolve) => {
    const buf = Buffer.from(data)
    const NODE_EXISTS = zookeeperClient().Exception.NODE_EXISTS
    const set = () => client.setData(p, buf, -1, (e) => resolve(e === null))
    if (known.has(p)) return set()
    client.create(p, buf, (e) => {
      if (e === null) {
        known.add(p)
        return resolve(true)
      }
      if ((e as Error & { getCode?: () => number }).getCode?.() === NODE_EXISTS) {
        known.add(p)
        return set()
      }
      resolve(false)
    })
  })
