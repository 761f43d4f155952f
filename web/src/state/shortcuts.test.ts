import { describe, expect, it } from 'vitest';
import { displayKeys, SHORTCUTS, shortcutFor, type KeyLike } from './shortcuts';

const key = (k: string, mods: Partial<KeyLike> = {}): KeyLike => ({
  key: k,
  ctrlKey: false,
  metaKey: false,
  altKey: false,
  shiftKey: false,
  ...mods,
});

describe('keyboard shortcut map', () => {
  it('has every shortcut of the guide, once', () => {
    expect(SHORTCUTS.map((s) => s.keys)).toEqual([
      'Mod+K', 'Mod+/', 'Esc', '↑', '↓', 'Enter', 'Mod+[', 'Mod+]', 'R', 'A', 'D', 'Mod+Enter', 'Mod+1', 'Mod+2', 'Mod+3', 'Mod+4',
    ]);
    expect(new Set(SHORTCUTS.map((s) => s.id)).size).toBe(SHORTCUTS.length);
  });

  it('maps Ctrl and Cmd alike', () => {
    for (const mods of [{ ctrlKey: true }, { metaKey: true }]) {
      expect(shortcutFor(key('k', mods), false)).toBe('search');
      expect(shortcutFor(key('/', mods), false)).toBe('help');
      expect(shortcutFor(key('[', mods), false)).toBe('previous');
      expect(shortcutFor(key(']', mods), false)).toBe('next');
      expect(shortcutFor(key('Enter', mods), false)).toBe('send');
      expect(shortcutFor(key('1', mods), false)).toBe('status.active');
      expect(shortcutFor(key('2', mods), false)).toBe('status.pending');
      expect(shortcutFor(key('3', mods), false)).toBe('status.resolved');
      expect(shortcutFor(key('4', mods), false)).toBe('status.archived');
    }
  });

  it('reads plain keys outside fields', () => {
    expect(shortcutFor(key('ArrowDown'), false)).toBe('down');
    expect(shortcutFor(key('ArrowUp'), false)).toBe('up');
    expect(shortcutFor(key('Enter'), false)).toBe('open');
    expect(shortcutFor(key('r'), false)).toBe('reply');
    expect(shortcutFor(key('A', { shiftKey: false }), false)).toBe('assign');
    expect(shortcutFor(key('d'), false)).toBe('download');
    expect(shortcutFor(key('Escape'), false)).toBe('close');
    expect(shortcutFor(key('x'), false)).toBeNull();
    expect(shortcutFor(key('r', { altKey: true }), false)).toBeNull();
  });

  it('leaves typing alone in fields but keeps the shortcuts meant for them', () => {
    for (const k of ['r', 'a', 'd', 'ArrowUp', 'ArrowDown', 'Enter']) expect(shortcutFor(key(k), true)).toBeNull();
    expect(shortcutFor(key('Enter', { ctrlKey: true }), true)).toBe('send');
    expect(shortcutFor(key('Escape'), true)).toBe('close');
    expect(shortcutFor(key('k', { metaKey: true }), true)).toBe('search');
    expect(shortcutFor(key('3', { ctrlKey: true }), true)).toBe('status.resolved');
  });

  it('shows the modifier of the platform', () => {
    expect(displayKeys('Mod+K', true)).toBe('⌘K');
    expect(displayKeys('Mod+K', false)).toBe('Ctrl+K');
  });
});
