import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import * as api from '../api/client';
import { messageOf } from '../api/errors';
import { keys } from '../api/keys';
import { CHANNELS, type Channel, type Customer } from '../api/types';
import { useInbox } from '../app/context';
import { CHANNEL_LABEL, customerLabel, listTime } from '../state/format';
import { Button, PriorityBadge, Skeleton, StatusBadge, common } from './common';
import { ChannelIcon, Icon } from './icons';
import s from './Customer.module.css';

function list(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((x) => x.trim())
    .filter(Boolean);
}

function EditCustomer({ customer, onClose }: { customer: Customer; onClose: () => void }) {
  const qc = useQueryClient();
  const { me } = useInbox();
  const [name, setName] = useState(customer.display_name);
  const [phones, setPhones] = useState(customer.phones.join(', '));
  const [emails, setEmails] = useState(customer.emails.join(', '));
  const [preferred, setPreferred] = useState<Channel | ''>(customer.channel_preferences.preferred ?? '');
  const [optedOut, setOptedOut] = useState<Channel[]>(customer.channel_preferences.opted_out);
  const [segment, setSegment] = useState(customer.segment);
  const [error, setError] = useState<string | null>(null);
  const privileged = me.role === 'admin' || me.role === 'supervisor';
  return (
    <form
      className={s.edit}
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          const r = await api.updateCustomer(customer.id, {
            display_name: name,
            phones: list(phones),
            emails: list(emails),
            channel_preferences: { preferred: preferred || null, opted_out: optedOut },
            ...(privileged && segment !== customer.segment ? { segment } : {}),
          });
          if (r.customer) qc.setQueryData(keys.customer(customer.id), r.customer);
          void qc.invalidateQueries({ queryKey: ['conversations'] });
          onClose();
        } catch (err) {
          setError(messageOf(err));
        }
      }}
    >
      <div className={common.field}>
        <label htmlFor="cust-name">Name</label>
        <input id="cust-name" className={common.input} value={name} onChange={(e) => setName(e.target.value)} />
      </div>
      <div className={common.field}>
        <label htmlFor="cust-phones">Phones (comma-separated)</label>
        <input id="cust-phones" className={common.input} value={phones} onChange={(e) => setPhones(e.target.value)} />
      </div>
      <div className={common.field}>
        <label htmlFor="cust-emails">Emails (comma-separated)</label>
        <input id="cust-emails" className={common.input} value={emails} onChange={(e) => setEmails(e.target.value)} />
      </div>
      <div className={common.field}>
        <label htmlFor="cust-pref">Preferred channel</label>
        <select id="cust-pref" className={common.input} value={preferred} onChange={(e) => setPreferred(e.target.value as Channel | '')}>
          <option value="">No preference</option>
          {CHANNELS.map((c) => (
            <option key={c} value={c}>
              {CHANNEL_LABEL[c]}
            </option>
          ))}
        </select>
      </div>
      <fieldset className={s.fieldset}>
        <legend className={common.label}>Opted out of</legend>
        {CHANNELS.map((c) => (
          <label key={c} className={s.inline}>
            <input type="checkbox" checked={optedOut.includes(c)} onChange={() => setOptedOut(optedOut.includes(c) ? optedOut.filter((x) => x !== c) : [...optedOut, c])} />
            {CHANNEL_LABEL[c]}
          </label>
        ))}
      </fieldset>
      {privileged ? (
        <div className={common.field}>
          <label htmlFor="cust-segment">Segment</label>
          <input id="cust-segment" className={common.input} value={segment} onChange={(e) => setSegment(e.target.value)} placeholder="e.g. VIP" />
        </div>
      ) : null}
      {error ? <p className={common.error} role="alert">{error}</p> : null}
      <div className={s.editFoot}>
        <Button onClick={onClose}>Cancel</Button>
        <Button variant="primary" type="submit">
          Save
        </Button>
      </div>
    </form>
  );
}

export function CustomerPanel({
  id,
  onBack,
  onOpenConversation,
  onCollapse,
}: {
  id: string | null;
  onBack: () => void;
  onOpenConversation: (id: string) => void;
  onCollapse: () => void;
}) {
  const { agentName, teamName } = useInbox();
  const [editing, setEditing] = useState(false);
  const conversation = useQuery({ queryKey: keys.conversation(id ?? ''), queryFn: () => api.getConversation(id!), enabled: !!id });
  const customerId = conversation.data?.contact?.id;
  const customer = useQuery({ queryKey: keys.customer(customerId ?? ''), queryFn: () => api.getCustomer(customerId!), enabled: !!customerId });
  const related = useQuery({ queryKey: keys.related(id ?? ''), queryFn: () => api.relatedConversations(id!), enabled: !!id });
  const c = conversation.data;
  const k = customer.data;
  return (
    <aside className={s.panel} aria-label="Customer" data-region="customer" data-panel>
      <div className={s.head}>
        <button type="button" className={s.back} onClick={onBack} aria-label="Back to the conversation">
          <Icon name="back" size={20} />
        </button>
        <h2 className={s.title}>{k ? k.display_name || (c ? customerLabel(c) : '') : c ? customerLabel(c) : 'Customer'}</h2>
        {k && !editing ? (
          <Button variant="ghost" onClick={() => setEditing(true)}>
            Edit
          </Button>
        ) : null}
        <button type="button" className={s.collapse} onClick={onCollapse} aria-label="Hide the customer panel" title="Hide the customer panel">
          »
        </button>
      </div>
      {!id ? (
        <p className={s.empty}>The customer of the open conversation shows here.</p>
      ) : customer.isError ? (
        <div className={common.state} role="alert">
          <p>{messageOf(customer.error)}</p>
          <Button onClick={() => void customer.refetch()}>Retry</Button>
        </div>
      ) : !k ? (
        <div className={s.section}>
          <Skeleton width="70%" />
          <br />
          <Skeleton width="50%" />
        </div>
      ) : editing ? (
        <EditCustomer customer={k} onClose={() => setEditing(false)} />
      ) : (
        <>
          <section className={s.section} aria-label="Customer details">
            <dl className={s.dl}>
              {k.phones.map((p) => (
                <div key={p}>
                  <dt>Phone</dt>
                  <dd>
                    <a href={`tel:${p}`}>{p}</a>
                  </dd>
                </div>
              ))}
              {k.emails.map((e) => (
                <div key={e}>
                  <dt>Email</dt>
                  <dd>
                    <a href={`mailto:${e}`}>{e}</a>
                  </dd>
                </div>
              ))}
              {k.identities.map((i) => (
                <div key={`${i.channel}-${i.address}`}>
                  <dt>
                    <ChannelIcon channel={i.channel} size={12} /> {CHANNEL_LABEL[i.channel] ?? i.channel}
                  </dt>
                  <dd className={s.ellipsis}>{i.address}</dd>
                </div>
              ))}
              <div>
                <dt>Prefers</dt>
                <dd>
                  {k.channel_preferences.preferred ? CHANNEL_LABEL[k.channel_preferences.preferred] : 'no preference'}
                  {k.channel_preferences.opted_out.length ? ` · opted out of ${k.channel_preferences.opted_out.map((x) => CHANNEL_LABEL[x]).join(', ')}` : ''}
                </dd>
              </div>
              <div>
                <dt>Conversations</dt>
                <dd>{k.total_conversations}</dd>
              </div>
              {k.segment ? (
                <div>
                  <dt>Segment</dt>
                  <dd>{k.segment}</dd>
                </div>
              ) : null}
              {Object.entries(k.attributes).map(([key, v]) => (
                <div key={key}>
                  <dt>{key}</dt>
                  <dd>{v}</dd>
                </div>
              ))}
            </dl>
          </section>
        </>
      )}
      {c ? (
        <section className={s.section} aria-label="Conversation context">
          <h3 className={s.h}>This conversation</h3>
          <dl className={s.dl}>
            <div>
              <dt>Status</dt>
              <dd>
                <StatusBadge status={c.status} />
              </dd>
            </div>
            <div>
              <dt>Assigned</dt>
              <dd>
                {c.assignee_id ? agentName(c.assignee_id) : 'Nobody'}
                {c.team_id ? ` · ${teamName(c.team_id)}` : ''}
              </dd>
            </div>
            <div>
              <dt>Priority</dt>
              <dd>
                <PriorityBadge priority={c.priority} title={c.priority_reason} />
              </dd>
            </div>
          </dl>
        </section>
      ) : null}
      {id ? (
        <section className={s.section} aria-label="Related conversations">
          <h3 className={s.h}>Related conversations</h3>
          {related.isPending ? <Skeleton width="80%" /> : null}
          {related.data && !related.data.items.length ? <p className={s.empty}>None.</p> : null}
          <ul className={s.related}>
            {related.data?.items.map((r) => (
              <li key={r.id}>
                <button type="button" className={s.relatedBtn} onClick={() => onOpenConversation(r.id)}>
                  <ChannelIcon channel={r.channel} size={13} />
                  <span className={s.ellipsis}>{r.last_message_preview || '—'}</span>
                  <StatusBadge status={r.status} />
                  <span className={s.time}>{listTime(r.last_message_at)}</span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {k?.cards.length ? (
        <section className={s.section} aria-label="Integrations">
          <h3 className={s.h}>Integrations</h3>
          {k.cards.map((card) => (
            <div key={`${card.source}-${card.title}`} className={s.card}>
              <div className={s.cardHead}>
                <span className={s.source}>{card.source}</span> {card.title}
              </div>
              <dl className={s.dl}>
                {card.fields.map((f) => (
                  <div key={f.key}>
                    <dt>{f.key}</dt>
                    <dd>{f.value}</dd>
                  </div>
                ))}
              </dl>
            </div>
          ))}
        </section>
      ) : k ? (
        <section className={s.section} aria-label="Integrations">
          <h3 className={s.h}>Integrations</h3>
          <p className={s.empty}>No CRM or calendar data for this customer.</p>
        </section>
      ) : null}
    </aside>
  );
}
