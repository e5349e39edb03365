/**
 * Security groups: the project's ingress rules and which instances they select, live; for members
 * a form that creates one (name, selector, description, rules added and removed row by row),
 * validated by the security-group kind's schema and rules (overlapping rules, icmp with ports, a
 * bad CIDR: each shown beside its row's field), and a delete that asks first.
 */
import { useSignal } from '@preact/signals';
import type { Page } from '../app/page.js';
import { can } from '../app/session.js';
import { securityGroupKind } from '../../../src/model/kinds/index.js';
import { SG_PROTOCOLS, type SecurityGroup } from '../../../src/model/kinds/security-group.js';
import { Field } from '../ui/components.js';
import type { Column } from '../ui/table.js';
import type { createForm } from '../ui/form.js';
import { age } from '../ui/format.js';
import { ingressOf, NEW_RULE, ruleText, type RuleDraft } from './requests.js';
import { CreateForm, DeleteButton, LiveTable, TextInput, useScope } from './kit.js';

function columns(): Column<SecurityGroup>[] {
  const { api } = useScope();
  return [
    { key: 'name', header: 'Name', cell: (g) => g.metadata.name, sortValue: (g) => g.metadata.name },
    { key: 'selector', header: 'Selects', cell: (g) => g.spec.selector || 'every instance' },
    { key: 'rules', header: 'Ingress rules', cell: (g) => (g.spec.ingress.length ? <ul class="plain">{g.spec.ingress.map((r, i) => <li key={i}>{ruleText(r)}</li>)}</ul> : 'nothing but replies and published ports') },
    { key: 'description', header: 'Description', cell: (g) => g.spec.description ?? '' },
    { key: 'age', header: 'Age', cell: (g) => age(g.metadata.createdAt), sortValue: (g) => g.metadata.createdAt },
    { key: 'actions', header: 'Actions', cell: (g) => can('member', g.metadata.project) && <DeleteButton api={api} kind={securityGroupKind} obj={g} consequence="The instances it selects stop accepting what its rules allow." /> },
  ];
}

function SecurityGroups() {
  const { project } = useScope();
  return (
    <>
      <p class="hint">An instance no group selects accepts traffic from its own network only; one that groups select accepts exactly what their rules allow.</p>
      <LiveTable kind={securityGroupKind} label="Security groups" columns={columns()} empty="No security groups." />
      {project && can('member', project) && <CreateGroup project={project} />}
    </>
  );
}

function CreateGroup(props: { project: string }) {
  const name = useSignal('');
  const selector = useSignal('');
  const description = useSignal('');
  const rules = useSignal<RuleDraft[]>([{ ...NEW_RULE }]);
  const body = () => ({ kind: 'security-group', metadata: { name: name.value.trim() }, spec: { ...(selector.value.trim() ? { selector: selector.value.trim() } : {}), ingress: ingressOf(rules.value), ...(description.value.trim() ? { description: description.value.trim() } : {}) } });
  const reset = () => { name.value = selector.value = description.value = ''; rules.value = [{ ...NEW_RULE }]; };
  const update = (i: number, patch: Partial<RuleDraft>) => { rules.value = rules.value.map((r, j) => (j === i ? { ...r, ...patch } : r)); };
  return (
    <section aria-labelledby="sg-new">
      <h2 id="sg-new">New security group</h2>
      <CreateForm kind={securityGroupKind} project={props.project} label="New security group" noun="Security group" submit="Create security group" body={body} onCreated={reset}>
        {(form) => (
          <>
            <TextInput form={form} path="metadata.name" label="Name" value={name} />
            <TextInput form={form} path="spec.selector" label="Selector" value={selector} placeholder="app=web" hint="Instances of this project it applies to, by label. Empty: all of them." />
            <TextInput form={form} path="spec.description" label="Description" value={description} />
            <fieldset>
              <legend>Ingress rules</legend>
              {rules.value.map((r, i) => <RuleRow key={i} form={form} index={i} rule={r} onChange={(p) => update(i, p)} onRemove={() => { rules.value = rules.value.filter((_, j) => j !== i); }} />)}
              <button type="button" onClick={() => { rules.value = [...rules.value, { ...NEW_RULE }]; }}>Add rule</button>
            </fieldset>
          </>
        )}
      </CreateForm>
    </section>
  );
}

function RuleRow(props: { form: ReturnType<typeof createForm>; index: number; rule: RuleDraft; onChange: (p: Partial<RuleDraft>) => void; onRemove: () => void }) {
  const { form, index: i, rule: r } = props;
  const at = `spec.ingress[${i}]`;
  const n = i + 1;
  return (
    <div class="rule-row" role="group" aria-label={`Rule ${n}`}>
      <Field form={form} path={`${at}.protocol`} label={`Rule ${n} protocol`}>
        {(a) => <select {...a} value={r.protocol} onChange={(e) => props.onChange({ protocol: (e.target as HTMLSelectElement).value })}>{SG_PROTOCOLS.map((p) => <option key={p} value={p}>{p}</option>)}</select>}
      </Field>
      <Field form={form} path={`${at}.ports`} label={`Rule ${n} ports`} hint="80 or 8000-8100; empty: all">
        {(a) => <input {...a} type="text" value={r.ports} disabled={r.protocol === 'icmp'} onInput={(e) => props.onChange({ ports: (e.target as HTMLInputElement).value })} />}
      </Field>
      <Field form={form} path={`${at}.from`} label={`Rule ${n} source`} hint={r.source === 'cidr' ? 'e.g. 10.240.3.0/24' : r.source === 'group' ? 'a group of this project' : 'any address'}>
        {(a) => (
          <span class="inline-form">
            <select aria-label={`Rule ${n} source kind`} value={r.source} onChange={(e) => props.onChange({ source: (e.target as HTMLSelectElement).value as RuleDraft['source'] })}>
              <option value="any">anywhere</option><option value="cidr">addresses (CIDR)</option><option value="group">security group</option>
            </select>
            {r.source !== 'any' && <input {...a} type="text" value={r.from} onInput={(e) => props.onChange({ from: (e.target as HTMLInputElement).value })} />}
          </span>
        )}
      </Field>
      <button type="button" aria-label={`Remove rule ${n}`} onClick={props.onRemove}>Remove</button>
    </div>
  );
}

export const securityGroupsPage: Page = { path: '/security-groups', title: 'Security groups', nav: { label: 'Security groups', section: 'Network', order: 20 }, component: SecurityGroups };
