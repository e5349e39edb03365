/**
 * Flags shared by `stratus agent` and the embedded agent of `stratus server`, and where an agent
 * listens. Light on purpose (every command loads it): what the flags become is agent-config.ts,
 * loaded when an agent starts.
 */
import { Option, type Command } from 'commander';
import type { EmbeddedAgentOptions } from '../server/embedded-agent.js';
import { isIP } from 'node:net';
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';

export function addAgentOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--node-name <name>', 'node name (default: the hostname)').env('STRATUS_NODE_NAME'))
    .addOption(new Option('--labels <k=v,...>', 'node labels, e.g. disk=ssd,rack=r1'))
    .addOption(new Option('--zone <zone>', 'failure domain of this machine'))
    .addOption(new Option('--pool <pool>', 'node pool'))
    .addOption(new Option('--gpus <MODEL:COUNT,...>', 'declare GPUs instead of asking nvidia-smi, e.g. V100M32:2'))
    .addOption(new Option('--capacity <cpu=..,memory=..,disk=..>', 'declare capacity instead of detecting it, e.g. cpu=4,memory=8Gi'))
    .addOption(new Option('--reserve <cpu=..,memory=..>', 'keep back for the system, e.g. cpu=500m,memory=1Gi'))
    .addOption(new Option('--drivers <names>', 'drivers to enable (default: all that work here), e.g. process,container'))
    .addOption(new Option('--agent-listen <host:port>', 'where the agent serves logs to the API server (default for stratus agent: the source address of the route to the server, port 0 (any); for the server\'s own agent: 127.0.0.1:0)').default('127.0.0.1:0'))
    .addOption(new Option('--advertise-address <addr>', 'address the API server uses to reach this agent (default: the --agent-listen host, or the source address of the route to the server when that is 0.0.0.0)'))
    .addOption(new Option('--heartbeat <duration>', 'how often the agent reports').default('2s'))
    .addOption(new Option('--usage-interval <duration>', 'how often the agent sends its instances\' usage (stratus top, autoscaling); 0 sends none').default('5s'))
    .addOption(new Option('--metrics-token-file <file>', 'a file holding the bearer secret (16+ characters) Prometheus scrapes /metrics with: stratus agent serves /metrics on its --agent-listen address only with it; stratus server answers it (and cluster admins) on its /metrics, which includes its own agent\'s'))
    .addOption(new Option('--restart-backoff <duration>', 'first delay before restarting a failed instance (doubles each time, up to 5m)').default('1s'))
    .addOption(new Option('--network <mode>', 'instance networking: auto (a namespace per instance on per-project networks, where root and the kernel allow it; else host) or host').choices(['auto', 'host']).env('STRATUS_NETWORK').default('auto'))
    .addOption(new Option('--underlay-address <ip>', 'this machine\'s address for VXLAN between nodes (default: the source address of the route to the server)'))
    .addOption(new Option('--netns-prefix <prefix>', 'prefix of instance network namespaces; give each agent sharing /run/netns its own').default('stratus-'))
    .addOption(new Option('--allow-unisolated', 'run process instances that ask for isolation: none (as root, seeing the whole node) in projects a cluster admin allowed; off by default'))
    .addOption(new Option('--sandbox-paths <dirs>', 'host directories sandboxed processes see read-only (default: the system directories: /bin, /sbin, /lib*, /usr, /etc)'))
    .addOption(new Option('--container-userns <mode>', 'containers in user namespaces: auto (where the kernel allows) or off').choices(['auto', 'off']).default('auto'))
    .addOption(new Option('--vm-accel <mode>', 'VM accelerator: auto (KVM when a probe guest runs under it, else TCG emulation), kvm or tcg').choices(['auto', 'kvm', 'tcg']).default('auto'));
}

/**
 * Where a machine's own agent (`stratus agent`) serves logs: the API server proxies `stratus logs`
 * to it, so it must be an address the server reaches. Unless --agent-listen was given, it listens
 * on the source address of the route to the server (what --underlay-address defaults to), any
 * port; listening on 0.0.0.0 it advertises that address rather than 127.0.0.1. An explicit
 * --advertise-address always wins.
 */
export async function reachableListen(listen: EmbeddedAgentOptions['listen'], server: string, listenGiven: boolean): Promise<EmbeddedAgentOptions['listen']> {
  const l = listen ?? { host: '127.0.0.1', port: 0 };
  if (l.advertise || (listenGiven && l.host !== '0.0.0.0' && l.host !== '::')) return l;
  const source = await routeSource(server);
  if (!source) return l;
  return listenGiven ? { ...l, advertise: source } : { host: source, port: l.port };
}

/** The source address this machine uses to reach `url`'s host (no packet is sent), if any. */
export async function routeSource(url: string): Promise<string | undefined> {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
  const target = isIP(host) ? host : await lookup(host).then((r) => r.address, () => undefined);
  if (!target) return undefined;
  const sock = createSocket(isIP(target) === 6 ? 'udp6' : 'udp4');
  try {
    // A UDP connect only picks the route and the source address.
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.connect(9, target, () => resolve());
    });
    return sock.address().address;
  } catch {
    return undefined;
  } finally {
    sock.close();
  }
}
