import { useQuery } from '@tanstack/react-query';
import { forwardRef, useEffect, useImperativeHandle, useRef, useState } from 'react';
import * as api from '../api/client';
import { messageOf } from '../api/errors';
import type { Conversation, Template } from '../api/types';
import { useInbox } from '../app/context';
import { customerLabel } from '../state/format';
import { displayKeys } from '../state/shortcuts';
import { builtInValues, missingVariables, templateQuery, UnfilledVariables, variablesOf, whatsappTemplatePayload } from '../state/templates';
import { customerServiceWindow, formatRemaining } from '../state/window24h';
import { Button, common } from './common';
import { Icon } from './icons';
import s from './Composer.module.css';

export interface ComposerHandle {
  focus: () => void;
}

interface SpeechRecognitionLike {
  lang: string;
  interimResults: boolean;
  onresult: ((e: { results: ArrayLike<ArrayLike<{ transcript: string }>> }) => void) | null;
  onend: (() => void) | null;
  start: () => void;
  stop: () => void;
}

function speechRecognition(): (new () => SpeechRecognitionLike) | null {
  const w = window as unknown as Record<string, unknown>;
  return (w.SpeechRecognition ?? w.webkitSpeechRecognition ?? null) as (new () => SpeechRecognitionLike) | null;
}

/**
 * Reply or internal note; `/` searches the templates (↑ ↓ Enter), a chosen template asks for
 * its variables and is refused while one is empty; Ctrl/Cmd+Enter sends. On WhatsApp outside
 * the 24-hour window only a template can go out (notes still can).
 */
export const Composer = forwardRef<ComposerHandle, { conversation: Conversation; now: number }>(function Composer({ conversation: c, now }, ref) {
  const { outbox, me, settings, toast } = useInbox();
  const [text, setText] = useState('');
  const [note, setNote] = useState(false);
  const [template, setTemplate] = useState<Template | null>(null);
  const [values, setValues] = useState<Record<string, string>>({});
  const [language, setLanguage] = useState('en_US');
  const [error, setError] = useState<string | null>(null);
  const [pickIndex, setPickIndex] = useState(0);
  const [listening, setListening] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);
  const typingSent = useRef(0);
  const recognition = useRef<SpeechRecognitionLike | null>(null);
  const fillRef = useRef<HTMLDivElement>(null);

  useImperativeHandle(ref, () => ({ focus: () => area.current?.focus() }));

  // A draft belongs to its conversation.
  useEffect(() => {
    setText('');
    setTemplate(null);
    setError(null);
    setNote(false);
  }, [c.id]);

  // A chosen template takes the focus to its first empty variable (or its first field).
  useEffect(() => {
    if (!template) return;
    const inputs = Array.from(fillRef.current?.querySelectorAll<HTMLInputElement>('input') ?? []);
    (inputs.find((i) => !i.value.trim()) ?? inputs[0] ?? fillRef.current)?.focus();
  }, [template]);

  const win = customerServiceWindow(c, now);
  const templateOnly = win.kind === 'closed' && !note;
  // Outside the window whatever is typed searches the templates; inside, `/` starts a search.
  const q = template ? null : templateOnly ? text.replace(/^\//, '').trim() : templateQuery(text);
  const picking = q !== null || (templateOnly && !template);
  const templates = useQuery({
    queryKey: ['templates', q ?? ''],
    queryFn: () => api.listTemplates(q ?? ''),
    enabled: picking,
    staleTime: 30_000,
  });
  const options = templates.data?.items ?? [];

  const builtIns = builtInValues({
    customerName: customerLabel(c),
    agentName: me.name,
    companyName: settings?.company_name ?? '',
    now: new Date(now),
    timeZone: settings?.time_zone,
  });

  const choose = (t: Template) => {
    setTemplate(t);
    const vars = variablesOf(t.body);
    setValues(Object.fromEntries(vars.map((v) => [v, builtIns[v] ?? ''])));
    setError(null);
    setText('');
  };

  const signalTyping = (typing: boolean) => {
    const t = Date.now();
    if (typing && t - typingSent.current < 4000) return;
    typingSent.current = typing ? t : 0;
    void api.sendTyping(c.id, typing).catch(() => undefined);
  };

  const send = async () => {
    setError(null);
    if (template) {
      const missing = missingVariables(template.body, values);
      if (missing.length) {
        setError(new UnfilledVariables(missing).message);
        return;
      }
      if (templateOnly) {
        // An approved WhatsApp template of the same name, the variables as its parameters.
        const payload = whatsappTemplatePayload(template.name, language, template.body, values);
        outbox.add(c.id, { kind: 'message', text: '', internal_note: false, template: payload });
      } else {
        try {
          const rendered = await api.renderTemplate(template.id, c.id, values);
          setText(rendered.text);
          setTemplate(null);
          area.current?.focus();
          toast('Template inserted: edit it, then send');
        } catch (e) {
          setError(messageOf(e));
        }
        return;
      }
      setTemplate(null);
      return;
    }
    const body = text.trim();
    if (!body) return;
    if (templateOnly) {
      setError('The 24-hour window is closed: choose a template.');
      return;
    }
    outbox.add(c.id, { kind: 'message', text: body, internal_note: note });
    setText('');
    signalTyping(false);
  };

  const onKeyDown = (e: React.KeyboardEvent) => {
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
      e.preventDefault();
      void send();
      return;
    }
    if (picking && options.length) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        setPickIndex((i) => (i + (e.key === 'ArrowDown' ? 1 : options.length - 1)) % options.length);
        return;
      }
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        choose(options[Math.min(pickIndex, options.length - 1)]);
        return;
      }
    }
    if (e.key === 'Escape' && (template || q !== null)) {
      e.stopPropagation();
      e.preventDefault();
      setTemplate(null);
      setText('');
    }
  };

  const Speech = speechRecognition();

  return (
    <div className={`${s.composer} ${note ? s.noteMode : ''}`} aria-label="Reply">
      <div className={s.modes} role="tablist" aria-label="Message type">
        <button type="button" role="tab" aria-selected={!note} className={`${s.mode} ${!note ? s.modeOn : ''}`} onClick={() => setNote(false)}>
          Reply
        </button>
        <button type="button" role="tab" aria-selected={note} className={`${s.mode} ${note ? s.modeOn : ''}`} onClick={() => setNote(true)}>
          Internal note
        </button>
        {note ? <span className={s.noteHint}>Only your team sees this</span> : null}
        {win.kind === 'open' ? (
          <span className={`${s.window} ${win.closingSoon ? s.windowSoon : ''}`} title="WhatsApp allows free-form replies for 24 hours after the customer's last message">
            <Icon name="clock" size={12} /> Window closes in {formatRemaining(win.remainingMs)}
          </span>
        ) : win.kind === 'closed' && !note ? (
          <span className={`${s.window} ${s.windowClosed}`}>
            <Icon name="clock" size={12} /> 24-hour window closed: templates only
          </span>
        ) : null}
      </div>

      {picking ? (
        <div className={s.picker} role="listbox" aria-label="Templates">
          {templateOnly ? <div className={s.pickerHead}>The customer last wrote over 24 hours ago: WhatsApp only accepts an approved template until they write again.</div> : null}
          {templates.isPending ? <div className={s.pickerEmpty}>Loading templates…</div> : null}
          {templates.isError ? <div className={s.pickerEmpty}>{messageOf(templates.error)}</div> : null}
          {templates.isSuccess && !options.length ? <div className={s.pickerEmpty}>No template matches “{q}”.</div> : null}
          {options.map((t, i) => (
            <button
              key={t.id}
              type="button"
              role="option"
              aria-selected={i === pickIndex}
              className={`${s.option} ${i === pickIndex ? s.optionOn : ''}`}
              onMouseEnter={() => setPickIndex(i)}
              onClick={() => choose(t)}
            >
              <span className={s.optionName}>/{t.name}</span>
              <span className={s.optionBody}>{t.body}</span>
            </button>
          ))}
        </div>
      ) : null}

      {template ? (
        <div className={s.fill} aria-label={`Template ${template.name}`} ref={fillRef} tabIndex={-1} onKeyDown={onKeyDown}>
          <div className={s.fillHead}>
            <strong>/{template.name}</strong>
            <button type="button" className={s.inlineBtn} onClick={() => setTemplate(null)}>
              Cancel
            </button>
          </div>
          <p className={s.fillPreview}>
            {template.body.split(/(\{\{\s*[a-zA-Z0-9_]+\s*\}\})/g).map((part, i) => {
              const m = /\{\{\s*([a-zA-Z0-9_]+)\s*\}\}/.exec(part);
              if (!m) return <span key={i}>{part}</span>;
              const v = values[m[1]]?.trim();
              return (
                <mark key={i} className={v ? s.filled : s.unfilled}>
                  {v || `{{${m[1]}}}`}
                </mark>
              );
            })}
          </p>
          <div className={s.vars}>
            {variablesOf(template.body).map((v) => (
              <label key={v} className={s.var}>
                <span>{v}</span>
                <input
                  className={common.input}
                  value={values[v] ?? ''}
                  onChange={(e) => setValues({ ...values, [v]: e.target.value })}
                  aria-invalid={!values[v]?.trim()}
                />
              </label>
            ))}
            {templateOnly ? (
              <label className={s.var}>
                <span>language</span>
                <input className={common.input} value={language} onChange={(e) => setLanguage(e.target.value)} />
              </label>
            ) : null}
          </div>
        </div>
      ) : null}

      {!template ? (
        <textarea
          ref={area}
          className={s.input}
          rows={3}
          value={text}
          placeholder={templateOnly ? 'Search the templates' : note ? 'Write a note for your team…' : 'Reply…  (/ for templates)'}
          aria-label={note ? 'Internal note' : 'Reply to the customer'}
          aria-keyshortcuts="Control+Enter Meta+Enter"
          onChange={(e) => {
            setText(e.target.value);
            setPickIndex(0);
            if (!note && e.target.value) signalTyping(true);
          }}
          onBlur={() => typingSent.current && signalTyping(false)}
          onKeyDown={onKeyDown}
        />
      ) : null}
      {error ? (
        <p className={common.error} role="alert">
          {error}
        </p>
      ) : null}
      <div className={s.foot}>
        {Speech ? (
          <Button
            variant="ghost"
            aria-pressed={listening}
            title="Voice input"
            onClick={() => {
              if (listening) {
                recognition.current?.stop();
                return;
              }
              const r = new Speech();
              r.lang = navigator.language;
              r.interimResults = false;
              r.onresult = (e) => setText((t) => `${t}${t ? ' ' : ''}${Array.from(e.results).map((x) => x[0].transcript).join(' ')}`);
              r.onend = () => setListening(false);
              recognition.current = r;
              setListening(true);
              r.start();
            }}
          >
            <Icon name="mic" size={15} /> {listening ? 'Listening…' : 'Voice'}
          </Button>
        ) : null}
        <span className={s.hint}>
          <kbd>/</kbd> templates · <kbd>{displayKeys('Mod+Enter')}</kbd> {template && !templateOnly ? 'insert' : 'send'}
        </span>
        <Button variant="primary" onClick={() => void send()} title={`${template && !templateOnly ? 'Insert' : 'Send'} (${displayKeys('Mod+Enter')})`} disabled={!template && !text.trim()}>
          <Icon name="send" size={14} /> {template ? (templateOnly ? 'Send template' : 'Insert') : note ? 'Add note' : 'Send'}
        </Button>
      </div>
    </div>
  );
});
