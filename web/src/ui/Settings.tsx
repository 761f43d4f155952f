import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import * as api from '../api/client';
import { messageOf } from '../api/errors';
import { keys } from '../api/keys';
import type { PriorityRules, StatusRules, Template, TenantSettings } from '../api/types';
import { useInbox } from '../app/context';
import * as notifications from '../api/notifications';
import { browserPushDeps } from '../api/push';
import type { NotificationLevel } from '../api/notifications';
import { disablePush, enablePush, pushState, type PushDeps, type PushState } from '../state/push';
import { draftOf, levelOf, NOTIFY_LEVELS, NOTIFY_TYPES, preferencesChange, type PreferencesDraft } from '../state/notify';
import { Button, Skeleton, common } from './common';
import s from './Settings.module.css';

function Notifications({ admin }: { admin: boolean }) {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['notification-preferences'], queryFn: notifications.getNotificationPreferences });
  const [draft, setDraft] = useState<PreferencesDraft | null>(null);
  const [msg, setMsg] = useState<{ text: string; error: boolean } | null>(null);
  const [saving, setSaving] = useState(false);
  const base = q.data ? draftOf(q.data) : null;
  const v = draft ?? base;
  const save = async () => {
    if (!v) return;
    const body = preferencesChange(v);
    if (!body.ok) return setMsg({ text: body.error, error: true });
    setSaving(true);
    try {
      const saved = await notifications.putNotificationPreferences(body.change);
      qc.setQueryData(['notification-preferences'], saved);
      setDraft(null);
      setMsg({ text: 'Saved.', error: false });
    } catch (e) {
      setMsg({ text: messageOf(e), error: true });
    } finally {
      setSaving(false);
    }
  };
  return (
    <section className={s.section} aria-labelledby="notif-h">
      <h2 id="notif-h">Notifications › Inbox</h2>
      {q.isError ? (
        <div role="alert">
          <p className={common.error}>Your preferences could not be loaded: {messageOf(q.error)}</p>
          <Button onClick={() => void q.refetch()}>Retry</Button>
        </div>
      ) : !v || !q.data ? (
        <div aria-busy="true">
          {NOTIFY_TYPES.slice(0, 4).map((t) => (
            <p key={t.type}>
              <Skeleton width="70%" />
            </p>
          ))}
        </div>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
        >
          <p className={common.hint}>Kept with your account: every browser you sign in with follows them.</p>
          <table className={s.table}>
            <tbody>
              {NOTIFY_TYPES.filter((t) => t.type !== 'webhook_disabled' || admin).map((t) => (
                <tr key={t.type}>
                  <th scope="row">{t.label}</th>
                  <td>
                    <select
                      aria-label={t.label}
                      className={common.input}
                      value={v.types[t.type] ?? levelOf(q.data, t.type)}
                      onChange={(e) => setDraft({ ...v, types: { ...v.types, [t.type]: e.target.value as NotificationLevel } })}
                    >
                      {NOTIFY_LEVELS.map((o) => (
                        <option key={o.value} value={o.value}>
                          {o.label}
                        </option>
                      ))}
                    </select>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className={s.row}>
            <label>
              <input type="checkbox" checked={v.do_not_disturb} onChange={(e) => setDraft({ ...v, do_not_disturb: e.target.checked })} /> Do not disturb
            </label>
            <span className={common.hint}>Notifications still reach the centre, without sound or browser alerts.</span>
          </div>
          <fieldset className={s.quiet}>
            <legend>Quiet hours{q.data.time_zone ? ` (${q.data.time_zone})` : ''}</legend>
            <label>
              From <input type="time" className={common.input} aria-label="Quiet hours from" value={v.quiet_hours_start} onChange={(e) => setDraft({ ...v, quiet_hours_start: e.target.value })} />
            </label>
            <label>
              to <input type="time" className={common.input} aria-label="Quiet hours to" value={v.quiet_hours_end} onChange={(e) => setDraft({ ...v, quiet_hours_end: e.target.value })} />
            </label>
            {v.quiet_hours_start || v.quiet_hours_end ? (
              <Button variant="ghost" onClick={() => setDraft({ ...v, quiet_hours_start: '', quiet_hours_end: '' })}>
                No quiet hours
              </Button>
            ) : null}
          </fieldset>
          <Button variant="primary" type="submit" disabled={!draft || saving}>
            {saving ? 'Saving…' : 'Save notification preferences'}
          </Button>
          {msg ? (
            <span className={`${s.msg} ${msg.error ? common.error : ''}`} role={msg.error ? 'alert' : 'status'}>
              {msg.text}
            </span>
          ) : null}
        </form>
      )}
      <BrowserPush />
    </section>
  );
}

const PUSH_TEXT: Record<PushState, string> = {
  unsupported: 'This browser cannot receive push notifications here (it needs the installed inbox over HTTPS, or localhost).',
  denied: 'Blocked in this browser’s site settings: allow notifications for this site there, then come back.',
  off: 'Off for this browser. Notifications set to “All” also arrive when the inbox is closed once you turn this on.',
  on: 'On for this browser: notifications set to “All” arrive even when the inbox is closed.',
};

/** Web Push for this browser: permission, subscription and the server's record of it. */
function BrowserPush() {
  const deps = useMemo(browserPushDeps, []);
  const [state, setState] = useState<PushState | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    pushState(deps).then(
      (s) => live && setState(s),
      () => live && setState('off'),
    );
    return () => {
      live = false;
    };
  }, [deps]);
  const run = async (step: (d: PushDeps) => Promise<PushState>) => {
    setBusy(true);
    setError(null);
    try {
      setState(await step(deps));
    } catch (e) {
      setError(`Browser push could not be changed: ${messageOf(e)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className={s.row} aria-label="Browser push">
      <span>
        Browser push: <strong>{state === null ? '…' : state === 'on' ? 'on' : state === 'off' ? 'off' : state === 'denied' ? 'blocked' : 'not available'}</strong>
      </span>
      {state === 'off' ? (
        <Button onClick={() => void run(enablePush)} disabled={busy}>
          {busy ? 'Turning on…' : 'Turn on for this browser'}
        </Button>
      ) : null}
      {state === 'on' ? (
        <Button variant="ghost" onClick={() => void run(disablePush)} disabled={busy}>
          {busy ? 'Turning off…' : 'Turn off for this browser'}
        </Button>
      ) : null}
      {state === 'unsupported' && typeof Notification !== 'undefined' && Notification.permission === 'default' ? (
        <Button onClick={() => void Notification.requestPermission().then(() => run(pushState))} disabled={busy}>
          Allow notifications while the inbox is open
        </Button>
      ) : null}
      {state ? <span className={common.hint}>{PUSH_TEXT[state]}</span> : null}
      {error ? (
        <span className={common.error} role="alert">
          {error}
        </span>
      ) : null}
    </div>
  );
}

function Form<T extends object>({ title, load, save, fields, admin }: {
  title: string;
  load: () => Promise<T>;
  save: (v: T) => Promise<T>;
  fields: { key: keyof T; label: string; type: 'text' | 'number' | 'bool' | 'list' | 'textarea' }[];
  admin: boolean;
}) {
  const q = useQuery({ queryKey: ['settings-form', title], queryFn: load });
  const [draft, setDraft] = useState<T | null>(null);
  const [msg, setMsg] = useState<string | null>(null);
  const v = draft ?? q.data;
  if (q.isError) return <p className={common.error}>{title}: {messageOf(q.error)}</p>;
  if (!v) return <p className={common.hint}>Loading {title.toLowerCase()}…</p>;
  const set = (k: keyof T, value: unknown) => setDraft({ ...v, [k]: value } as T);
  return (
    <section className={s.section} aria-label={title}>
      <h2>{title}</h2>
      {fields.map((f) => {
        const id = `${title}-${String(f.key)}`;
        const value = v[f.key] as unknown;
        return (
          <div key={String(f.key)} className={common.field}>
            <label htmlFor={id}>{f.label}</label>
            {f.type === 'bool' ? (
              <input id={id} type="checkbox" disabled={!admin} checked={!!value} onChange={(e) => set(f.key, e.target.checked)} style={{ alignSelf: 'flex-start' }} />
            ) : f.type === 'textarea' ? (
              <textarea id={id} className={common.input} disabled={!admin} rows={2} value={String(value ?? '')} onChange={(e) => set(f.key, e.target.value)} />
            ) : (
              <input
                id={id}
                className={common.input}
                disabled={!admin}
                type={f.type === 'number' ? 'number' : 'text'}
                value={f.type === 'list' ? (value as string[]).join(', ') : String(value ?? '')}
                onChange={(e) =>
                  set(f.key, f.type === 'number' ? Number(e.target.value) : f.type === 'list' ? e.target.value.split(',').map((x) => x.trim()).filter(Boolean) : e.target.value)
                }
              />
            )}
          </div>
        );
      })}
      {admin ? (
        <Button
          variant="primary"
          disabled={!draft}
          onClick={async () => {
            try {
              await save(v);
              setDraft(null);
              void q.refetch();
              setMsg('Saved.');
            } catch (e) {
              setMsg(messageOf(e));
            }
          }}
        >
          Save
        </Button>
      ) : (
        <p className={common.hint}>Only admins change these.</p>
      )}
      {msg ? <span className={s.msg} role="status">{msg}</span> : null}
    </section>
  );
}

function Templates({ manage }: { manage: boolean }) {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: keys.templates('settings'), queryFn: () => api.listTemplates('', 200) });
  const [editing, setEditing] = useState<Partial<Template> | null>(null);
  const [error, setError] = useState<string | null>(null);
  return (
    <section className={s.section} aria-labelledby="tpl-h">
      <h2 id="tpl-h">Templates</h2>
      {manage ? <Button onClick={() => setEditing({ name: '', body: '' })}>New template</Button> : <p className={common.hint}>Supervisors and admins manage templates.</p>}
      {editing ? (
        <form
          className={s.tplForm}
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              if (editing.id) await api.updateTemplate(editing.id, { name: editing.name, body: editing.body });
              else await api.createTemplate(editing.name ?? '', editing.body ?? '');
              setEditing(null);
              setError(null);
              void qc.invalidateQueries({ queryKey: ['templates'] });
            } catch (err) {
              setError(messageOf(err));
            }
          }}
        >
          <div className={common.field}>
            <label htmlFor="tpl-name">Name</label>
            <input id="tpl-name" className={common.input} value={editing.name ?? ''} onChange={(e) => setEditing({ ...editing, name: e.target.value })} />
          </div>
          <div className={common.field}>
            <label htmlFor="tpl-body">Message (variables as {'{{customer_name}}'}, {'{{agent_name}}'}, {'{{company_name}}'}, {'{{date}}'}, {'{{time}}'} or your own)</label>
            <textarea id="tpl-body" className={common.input} rows={3} value={editing.body ?? ''} onChange={(e) => setEditing({ ...editing, body: e.target.value })} />
          </div>
          {error ? <p className={common.error}>{error}</p> : null}
          <Button variant="primary" type="submit">
            Save
          </Button>{' '}
          <Button onClick={() => setEditing(null)}>Cancel</Button>
        </form>
      ) : null}
      <ul className={s.tplList}>
        {q.data?.items.map((t) => (
          <li key={t.id}>
            <div>
              <strong>/{t.name}</strong>
              <p>{t.body}</p>
            </div>
            {manage ? (
              <span className={s.tplActions}>
                <Button onClick={() => setEditing(t)}>Edit</Button>
                <Button
                  variant="danger"
                  onClick={async () => {
                    await api.deleteTemplate(t.id).catch((e) => setError(messageOf(e)));
                    void qc.invalidateQueries({ queryKey: ['templates'] });
                  }}
                >
                  Delete
                </Button>
              </span>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}

export default function Settings({ onClose }: { onClose: () => void }) {
  const { me } = useInbox();
  const admin = me.role === 'admin';
  const manage = admin || me.role === 'supervisor';
  return (
    <div className={s.page}>
      <div className={s.head}>
        <h1>Settings</h1>
        <Button onClick={onClose}>Back to the inbox</Button>
      </div>
      <Notifications admin={admin} />
      <Templates manage={manage} />
      <Form<TenantSettings>
        title="Company"
        admin={admin}
        load={api.getTenantSettings}
        save={api.setTenantSettings}
        fields={[
          { key: 'company_name', label: 'Company name', type: 'text' },
          { key: 'time_zone', label: 'Time zone', type: 'text' },
          { key: 'ai_confidence_threshold', label: 'AI confidence threshold', type: 'number' },
          { key: 'handoff_message', label: 'Hand-off message', type: 'textarea' },
        ]}
      />
      <Form<StatusRules>
        title="Conversations › Auto-Status"
        admin={admin}
        load={api.getStatusRules}
        save={api.setStatusRules}
        fields={[
          { key: 'pending_timeout_seconds', label: 'Pending timeout (seconds)', type: 'number' },
          { key: 'auto_archive_seconds', label: 'Resolved auto-archive (seconds)', type: 'number' },
          { key: 'reopen_on_customer_message', label: 'Re-open on new message', type: 'bool' },
        ]}
      />
      <Form<PriorityRules>
        title="Priority rules"
        admin={admin}
        load={api.getPriorityRules}
        save={api.setPriorityRules}
        fields={[
          { key: 'urgent_keywords', label: 'Urgent keywords (comma-separated)', type: 'list' },
          { key: 'urgent_segments', label: 'Urgent segments', type: 'list' },
          { key: 'first_response_target_seconds', label: 'First response target (seconds, 0 = off)', type: 'number' },
        ]}
      />
      <p className={common.hint}>Teams and agents are managed with inboxctl or the admin API until their pages land.</p>
    </div>
  );
}
