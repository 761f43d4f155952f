import { displayKeys, SHORTCUTS } from '../state/shortcuts';
import { Dialog } from './common';
import s from './HelpSheet.module.css';

export function HelpSheet({ onClose }: { onClose: () => void }) {
  const groups = ['General', 'Navigation', 'Actions', 'Status'] as const;
  return (
    <Dialog title="Keyboard shortcuts" onClose={onClose} wide>
      <div className={s.grid}>
        {groups.map((g) => (
          <section key={g} aria-labelledby={`help-${g}`}>
            <h3 id={`help-${g}`} className={s.group}>
              {g}
            </h3>
            <dl className={s.list}>
              {SHORTCUTS.filter((x) => x.group === g).map((x) => (
                <div key={x.id} className={s.row}>
                  <dt>
                    <kbd>{displayKeys(x.keys)}</kbd>
                  </dt>
                  <dd>{x.label}</dd>
                </div>
              ))}
            </dl>
          </section>
        ))}
      </div>
      <p className={s.note}>Letters and arrows do nothing while you type in a field; the shortcuts with Ctrl/⌘ and Esc always work.</p>
    </Dialog>
  );
}
