import { useEffect, useId, useRef, type ReactNode } from 'react';
import type { Priority, Status } from '../api/types';
import { PRIORITY_META, STATUS_META } from '../state/format';
import s from './common.module.css';

/** The guide's marks drawn as shapes: a coloured dot, a check, a box. */
export function Mark({ kind }: { kind: Status | Priority }) {
  const dot = (fill: string, stroke = fill) => (
    <svg width="10" height="10" viewBox="0 0 10 10" aria-hidden="true">
      <circle cx="5" cy="5" r="4" fill={fill} stroke={stroke} />
    </svg>
  );
  switch (kind) {
    case 'active':
    case 'normal':
      return dot('#22a55b');
    case 'pending':
    case 'high':
      return dot('#f0b400');
    case 'urgent':
      return dot('#e03131');
    case 'low':
      return dot('#ffffff', '#9aa3ae');
    case 'resolved':
      return (
        <svg width="11" height="11" viewBox="0 0 12 12" aria-hidden="true">
          <rect x="0.5" y="0.5" width="11" height="11" rx="2.5" fill="#22a55b" />
          <path d="M3 6.2 5.1 8.2 9 4" fill="none" stroke="#fff" strokeWidth="1.6" strokeLinecap="round" />
        </svg>
      );
    case 'archived':
      return (
        <svg width="11" height="11" viewBox="0 0 12 12" aria-hidden="true">
          <rect x="1" y="4" width="10" height="7" rx="1" fill="#b58a52" />
          <rect x="0.5" y="1.5" width="11" height="3" rx="1" fill="#8d6a3d" />
          <path d="M4.5 6.5h3" stroke="#fff" strokeWidth="1.2" />
        </svg>
      );
  }
}

export function StatusBadge({ status, onClick, title }: { status: Status; onClick?: () => void; title?: string }) {
  const meta = STATUS_META[status] ?? { label: status };
  const cls = `${s.badge} ${s[`s-${status}`] ?? ''} ${onClick ? s.badgeButton : ''}`;
  const inner = (
    <>
      <Mark kind={status} />
      {meta.label}
    </>
  );
  return onClick ? (
    <button type="button" className={cls} onClick={onClick} title={title} aria-label={`Status: ${meta.label}. Change status`}>
      {inner}
    </button>
  ) : (
    <span className={cls} title={title}>
      {inner}
    </span>
  );
}

export function PriorityBadge({ priority, onClick, title }: { priority: Priority; onClick?: () => void; title?: string }) {
  const meta = PRIORITY_META[priority] ?? { label: priority };
  const cls = `${s.badge} ${s[`p-${priority}`] ?? ''} ${onClick ? s.badgeButton : ''}`;
  const inner = (
    <>
      <Mark kind={priority} />
      {meta.label}
    </>
  );
  return onClick ? (
    <button type="button" className={cls} onClick={onClick} title={title} aria-label={`Priority: ${meta.label}. Change priority`}>
      {inner}
    </button>
  ) : (
    <span className={cls} title={title}>
      {inner}
    </span>
  );
}

type ButtonProps = React.ButtonHTMLAttributes<HTMLButtonElement> & {
  variant?: 'primary' | 'danger' | 'ghost' | 'default';
  iconOnly?: boolean;
};

export function Button({ variant = 'default', iconOnly, className, ...rest }: ButtonProps) {
  const cls = [s.btn, variant !== 'default' ? s[variant] : '', iconOnly ? s.icon : '', className ?? ''].join(' ');
  return <button type="button" className={cls} {...rest} />;
}

/** A modal dialog: focus moves in, Esc closes (via the global handler), focus returns to the opener. */
export function Dialog({
  title,
  onClose,
  children,
  footer,
  wide,
  onSubmit,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
  /** Enter in a field submits (the footer's `type="submit"` button). */
  onSubmit?: () => void;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const titleId = useId();
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>('[data-autofocus], input, select, textarea, button:not([data-close])');
    (first ?? ref.current)?.focus();
    return () => {
      if (opener && document.contains(opener)) opener.focus();
    };
  }, []);
  return (
    <div className={s.backdrop} onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div
        ref={ref}
        className={s.dialog}
        style={wide ? { width: 'min(760px, 100%)' } : undefined}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        tabIndex={-1}
        data-dialog
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.stopPropagation();
            onClose();
          }
        }}
      >
        <div className={s.dialogHead}>
          <h2 id={titleId}>{title}</h2>
          <Button variant="ghost" iconOnly aria-label="Close" data-close onClick={onClose}>
            ✕
          </Button>
        </div>
        {onSubmit ? (
          <form
            className={s.dialogForm}
            onSubmit={(e) => {
              e.preventDefault();
              onSubmit();
            }}
          >
            <div className={s.dialogBody}>{children}</div>
            {footer ? <div className={s.dialogFoot}>{footer}</div> : null}
          </form>
        ) : (
          <>
            <div className={s.dialogBody}>{children}</div>
            {footer ? <div className={s.dialogFoot}>{footer}</div> : null}
          </>
        )}
      </div>
    </div>
  );
}

/** A small popover menu anchored under its trigger; closes on outside click and Esc. */
export function Menu({ onClose, children, align = 'left' }: { onClose: () => void; children: ReactNode; align?: 'left' | 'right' }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.querySelector<HTMLElement>('button')?.focus();
    const onDown = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) onClose();
    };
    document.addEventListener('mousedown', onDown);
    return () => document.removeEventListener('mousedown', onDown);
  }, [onClose]);
  return (
    <div
      ref={ref}
      className={s.menu}
      role="menu"
      style={align === 'right' ? { right: 0 } : { left: 0 }}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.stopPropagation();
          onClose();
        }
        if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
          e.preventDefault();
          e.stopPropagation();
          const items = Array.from(ref.current?.querySelectorAll<HTMLElement>('[role="menuitem"]') ?? []);
          const i = items.indexOf(document.activeElement as HTMLElement);
          items[(i + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length]?.focus();
        }
      }}
    >
      {children}
    </div>
  );
}

export function MenuItem({ onSelect, children, kbd }: { onSelect: () => void; children: ReactNode; kbd?: string }) {
  return (
    <button type="button" role="menuitem" className={s.menuItem} onClick={onSelect}>
      {children}
      {kbd ? <kbd>{kbd}</kbd> : null}
    </button>
  );
}

export function Skeleton({ width, height = 12 }: { width: number | string; height?: number }) {
  return <span className={s.skeleton} style={{ display: 'inline-block', width, height }} aria-hidden="true" />;
}

export { s as common };
