/**
 * `stratus completion bash|zsh|fish`: a completion script made from the command tree itself
 * (commands, subcommands, options), so it never lags behind the CLI. Arguments complete with
 * kinds (get, describe, delete), names of that kind, and instance names (exec, logs, cp,
 * port-forward), asked of the server with `stratus get KIND -o name` when the user presses tab.
 *
 *   bash  source <(stratus completion bash)
 *   zsh   source <(stratus completion zsh)        (bash's script through bashcompinit)
 *   fish  stratus completion fish | source
 */
import type { Command, Option } from 'commander';
import { CliError } from '../errors.js';
import { kindNames } from '../../model/kinds/index.js';

const SHELLS = ['bash', 'zsh', 'fish'] as const;
/** Commands whose first argument is an instance. */
const INSTANCE_ARG = ['exec', 'logs', 'cp', 'port-forward'];
/** Commands whose first argument is a kind, then names of it. */
const KIND_ARG = ['get', 'describe', 'delete'];

interface Node {
  path: string;
  subs: { name: string; description: string }[];
  options: { flags: string[]; description: string; takesValue: boolean }[];
}

export function registerCompletion(program: Command): void {
  program
    .command('completion <shell>')
    .description('Print a completion script: source <(stratus completion bash), source <(stratus completion zsh), stratus completion fish | source')
    .action((shell: string, _o: unknown, cmd: Command) => {
      if (!(SHELLS as readonly string[]).includes(shell)) throw new CliError(`completion ${shell}: unknown shell (use one of: ${SHELLS.join(', ')})`, 2);
      let root = cmd;
      while (root.parent) root = root.parent;
      const nodes = walk(root);
      process.stdout.write(shell === 'fish' ? fishScript(nodes) : shell === 'zsh' ? zshScript(nodes) : bashScript(nodes));
    });
}

/** Every command path with its subcommands and options (global options belong to the root). */
export function walk(cmd: Command, path = ''): Node[] {
  const visible = cmd.commands.filter((c) => c.name() !== 'help' && !(c as Command & { _hidden?: boolean })._hidden);
  const node: Node = {
    path,
    subs: visible.map((c) => ({ name: c.name(), description: c.description() })),
    options: [...cmd.options, { flags: '-h, --help', long: '--help', short: '-h', description: 'display help', required: false, optional: false } as unknown as Option]
      .filter((o) => !o.hidden)
      .map((o) => ({ flags: [o.short, o.long].filter((f): f is string => !!f), description: o.description, takesValue: o.required || o.optional })),
  };
  return [node, ...visible.flatMap((c) => walk(c, path ? `${path} ${c.name()}` : c.name()))];
}

const words = (xs: string[]) => xs.join(' ');

export function bashScript(nodes: Node[]): string {
  const valued = [...new Set(nodes.flatMap((n) => n.options.filter((o) => o.takesValue).flatMap((o) => o.flags)))];
  const subCases = nodes.filter((n) => n.subs.length).map((n) => `    "${n.path}") subs="${words(n.subs.map((s) => s.name))}";;`);
  const optCases = nodes.map((n) => `    "${n.path}") opts="${words(n.options.flatMap((o) => o.flags))}";;`);
  return `# stratus completion for bash: source <(stratus completion bash)
_stratus_names() {
  stratus "\${_stratus_flags[@]}" get "$1" -o name 2>/dev/null | sed 's|^[^/]*/||'
}

_stratus() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmdpath="" w i subs opts
  local -a args=() _stratus_flags=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      ${valued.join('|')})
        case "$w" in -p|--project|--server|--token|--context) _stratus_flags+=("$w" "\${COMP_WORDS[i+1]}");; esac
        i=$((i + 1)); continue;;
      -*) continue;;
    esac
    subs=""
    case "$cmdpath" in
${subCases.join('\n')}
    esac
    if [[ " $subs " == *" $w "* ]]; then cmdpath="\${cmdpath:+$cmdpath }$w"; else args+=("$w"); fi
  done
  case "$prev" in
    ${valued.join('|')}) COMPREPLY=(); return;;
  esac
  if [[ "$cur" == -* ]]; then
    opts=""
    case "$cmdpath" in
${optCases.join('\n')}
    esac
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return
  fi
  subs=""
  case "$cmdpath" in
${subCases.join('\n')}
  esac
  if [[ -n "$subs" ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    return
  fi
  case "$cmdpath" in
    ${KIND_ARG.join('|')})
      if [[ \${#args[@]} -eq 0 ]]; then COMPREPLY=($(compgen -W "${words(kindNames())}" -- "$cur"))
      else COMPREPLY=($(compgen -W "$(_stratus_names "\${args[0]}")" -- "$cur")); fi;;
    ${INSTANCE_ARG.join('|')})
      if [[ \${#args[@]} -eq 0 ]]; then COMPREPLY=($(compgen -W "$(_stratus_names instances)" -- "$cur"))
      else COMPREPLY=($(compgen -f -- "$cur")); fi;;
    *) COMPREPLY=($(compgen -f -- "$cur"));;
  esac
}

complete -F _stratus stratus
`;
}

export function zshScript(nodes: Node[]): string {
  return `#compdef stratus
# stratus completion for zsh: source <(stratus completion zsh) (the bash script through bashcompinit)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashScript(nodes).split('\n').slice(1).join('\n')}`;
}

const fishQuote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export function fishScript(nodes: Node[]): string {
  const lines = ['# stratus completion for fish: stratus completion fish | source'];
  for (const n of nodes) {
    const parts = n.path ? n.path.split(' ') : [];
    const cond = parts.length === 0 ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${parts.at(-1)}`;
    for (const s of n.subs) lines.push(`complete -c stratus -n ${fishQuote(cond)} -a ${fishQuote(s.name)} -d ${fishQuote(s.description.slice(0, 80))}`);
    for (const o of n.options) {
      const flags = o.flags.map((f) => (f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`)).join(' ');
      const scope = parts.length === 0 ? '' : `-n ${fishQuote(cond)} `;
      lines.push(`complete -c stratus ${scope}${flags}${o.takesValue ? ' -r' : ''} -d ${fishQuote(o.description.slice(0, 80))}`);
    }
  }
  const names = (kind: string) => `(stratus get ${kind} -o name 2>/dev/null | string replace -r '^[^/]*/' '')`;
  lines.push(`complete -c stratus -n ${fishQuote(`__fish_seen_subcommand_from ${INSTANCE_ARG.join(' ')}`)} -a ${fishQuote(names('instances'))}`);
  lines.push(`complete -c stratus -n ${fishQuote(`__fish_seen_subcommand_from ${KIND_ARG.join(' ')}`)} -a ${fishQuote(words(kindNames()))}`);
  return `${lines.join('\n')}\n`;
}
