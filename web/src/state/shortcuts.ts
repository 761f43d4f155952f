// The guide's "Keyboard Shortcuts", exactly, as one table: the help sheet, the tooltips and the
// key handler all read it.

export type ShortcutId =
  | 'search'
  | 'help'
  | 'close'
  | 'up'
  | 'down'
  | 'open'
  | 'previous'
  | 'next'
  | 'reply'
  | 'assign'
  | 'download'
  | 'send'
  | 'status.active'
  | 'status.pending'
  | 'status.resolved'
  | 'status.archived';

export interface Shortcut {
  id: ShortcutId;
  group: 'General' | 'Navigation' | 'Actions' | 'Status';
  keys: string;
  label: string;
  /** Works while the focus is in a text field. */
  inFields: boolean;
}

export const SHORTCUTS: Shortcut[] = [
  { id: 'search', group: 'General', keys: 'Mod+K', label: 'Search', inFields: true },
  { id: 'help', group: 'General', keys: 'Mod+/', label: 'Show shortcuts', inFields: true },
  { id: 'close', group: 'General', keys: 'Esc', label: 'Close current view', inFields: true },
  { id: 'up', group: 'Navigation', keys: '↑', label: 'Navigate conversations (up)', inFields: false },
  { id: 'down', group: 'Navigation', keys: '↓', label: 'Navigate conversations (down)', inFields: false },
  { id: 'open', group: 'Navigation', keys: 'Enter', label: 'Open conversation', inFields: false },
  { id: 'previous', group: 'Navigation', keys: 'Mod+[', label: 'Previous conversation', inFields: true },
  { id: 'next', group: 'Navigation', keys: 'Mod+]', label: 'Next conversation', inFields: true },
  { id: 'reply', group: 'Actions', keys: 'R', label: 'Reply to conversation', inFields: false },
  { id: 'assign', group: 'Actions', keys: 'A', label: 'Assign conversation', inFields: false },
  { id: 'download', group: 'Actions', keys: 'D', label: 'Download conversation', inFields: false },
  { id: 'send', group: 'Actions', keys: 'Mod+Enter', label: 'Send message', inFields: true },
  { id: 'status.active', group: 'Status', keys: 'Mod+1', label: 'Mark active', inFields: true },
  { id: 'status.pending', group: 'Status', keys: 'Mod+2', label: 'Mark pending', inFields: true },
  { id: 'status.resolved', group: 'Status', keys: 'Mod+3', label: 'Mark resolved', inFields: true },
  { id: 'status.archived', group: 'Status', keys: 'Mod+4', label: 'Archive', inFields: true },
];

export interface KeyLike {
  key: string;
  code?: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  shiftKey: boolean;
}

export function isMac(platform: string = typeof navigator === 'undefined' ? '' : navigator.platform): boolean {
  return /Mac|iPhone|iPad/.test(platform);
}

/** `Mod` as the platform shows it. */
export function displayKeys(keys: string, mac = isMac()): string {
  return keys.replace('Mod+', mac ? '⌘' : 'Ctrl+');
}

/** The shortcut a key press means; `null` when none, or when it is off in a text field. */
export function shortcutFor(e: KeyLike, inField: boolean): ShortcutId | null {
  const mod = e.ctrlKey || e.metaKey;
  let id: ShortcutId | null = null;
  if (mod && !e.altKey) {
    const k = e.key.toLowerCase();
    if (k === 'k') id = 'search';
    else if (k === '/' || e.code === 'Slash') id = 'help';
    else if (k === '[' || e.code === 'BracketLeft') id = 'previous';
    else if (k === ']' || e.code === 'BracketRight') id = 'next';
    else if (k === 'enter') id = 'send';
    else if (k === '1' || e.code === 'Digit1') id = 'status.active';
    else if (k === '2' || e.code === 'Digit2') id = 'status.pending';
    else if (k === '3' || e.code === 'Digit3') id = 'status.resolved';
    else if (k === '4' || e.code === 'Digit4') id = 'status.archived';
  } else if (!mod && !e.altKey) {
    if (e.key === 'Escape') id = 'close';
    else if (!e.shiftKey) {
      if (e.key === 'ArrowUp') id = 'up';
      else if (e.key === 'ArrowDown') id = 'down';
      else if (e.key === 'Enter') id = 'open';
      else if (e.key === 'r' || e.key === 'R') id = 'reply';
      else if (e.key === 'a' || e.key === 'A') id = 'assign';
      else if (e.key === 'd' || e.key === 'D') id = 'download';
    }
  }
  if (!id) return null;
  if (inField && !SHORTCUTS.find((s) => s.id === id)!.inFields) return null;
  return id;
}

export function shortcut(id: ShortcutId): Shortcut {
  return SHORTCUTS.find((s) => s.id === id)!;
}

/** "Assign (A)": a control's title with its shortcut. */
export function withShortcut(label: string, id: ShortcutId): string {
  return `${label} (${displayKeys(shortcut(id).keys)})`;
}

/** Whether an element takes typed text (shortcuts without a modifier are off there). */
export function isTextField(el: Element | null): boolean {
  if (!el) return false;
  const tag = el.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag === 'INPUT') {
    const type = (el as HTMLInputElement).type;
    return !['checkbox', 'radio', 'button', 'submit', 'reset', 'range', 'color', 'file'].includes(type);
  }
  return (el as HTMLElement).isContentEditable === true;
}
