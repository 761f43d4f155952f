// Inline SVG icons (no emoji: not every machine has a colour-emoji font).
import type { Channel } from '../api/types';

type P = { size?: number; title?: string; className?: string };

function Svg({ size = 16, title, className, children }: P & { children: React.ReactNode }) {
  return (
    <svg
      width={size}
      height={size}
      viewBox="0 0 24 24"
      className={className}
      role={title ? 'img' : undefined}
      aria-hidden={title ? undefined : true}
      aria-label={title}
      focusable="false"
    >
      {title ? <title>{title}</title> : null}
      {children}
    </svg>
  );
}

export function WhatsAppIcon(p: P) {
  return (
    <Svg {...p}>
      <path fill="#25a35a" d="M12 2.2a9.7 9.7 0 0 0-8.3 14.8L2.3 21.8l4.9-1.3A9.7 9.7 0 1 0 12 2.2z" />
      <path
        fill="#fff"
        d="M16.9 14.3c-.3-.1-1.6-.8-1.8-.9-.3-.1-.4-.1-.6.1l-.8 1c-.2.2-.3.2-.6.1a6.6 6.6 0 0 1-3.3-2.9c-.2-.4.3-.4.8-1.3.1-.2 0-.3 0-.5l-.8-2c-.2-.5-.4-.4-.6-.4h-.5a1 1 0 0 0-.7.3 3 3 0 0 0-.9 2.2 5.2 5.2 0 0 0 1.1 2.7 11.8 11.8 0 0 0 4.5 4c1.7.7 2.3.8 3.2.6.5-.1 1.6-.7 1.8-1.3.2-.6.2-1.2.2-1.3-.1-.2-.3-.2-.5-.4z"
      />
    </Svg>
  );
}

export function PhoneIcon(p: P) {
  return (
    <Svg {...p}>
      <path
        fill="#6b4fd8"
        d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2c.3-.3.7-.4 1-.2 1.1.4 2.3.6 3.6.6.6 0 1 .4 1 1V20c0 .6-.4 1-1 1A17 17 0 0 1 3 4c0-.6.4-1 1-1h3.5c.6 0 1 .4 1 1 0 1.2.2 2.4.6 3.6.1.3 0 .7-.2 1z"
      />
    </Svg>
  );
}

export function WebIcon(p: P) {
  return (
    <Svg {...p}>
      <circle cx="12" cy="12" r="9.2" fill="none" stroke="#1f7fb8" strokeWidth="1.8" />
      <path fill="none" stroke="#1f7fb8" strokeWidth="1.6" d="M3 12h18M12 2.8c2.6 2.6 3.8 5.6 3.8 9.2s-1.2 6.6-3.8 9.2M12 2.8C9.4 5.4 8.2 8.4 8.2 12s1.2 6.6 3.8 9.2" />
    </Svg>
  );
}

export function ChannelIcon({ channel, ...p }: P & { channel: Channel | string }) {
  const title = p.title ?? (channel === 'whatsapp' ? 'WhatsApp' : channel === 'telephony' ? 'Phone' : 'Web chat');
  if (channel === 'whatsapp') return <WhatsAppIcon {...p} title={title} />;
  if (channel === 'telephony') return <PhoneIcon {...p} title={title} />;
  return <WebIcon {...p} title={title} />;
}

export function Icon({ name, ...p }: P & { name: 'search' | 'back' | 'check' | 'checks' | 'clock' | 'eye' | 'filter' | 'close' | 'user' | 'download' | 'more' | 'robot' | 'note' | 'sort' | 'play' | 'alert' | 'menu' | 'settings' | 'keyboard' | 'bell' | 'send' | 'mic' | 'chart' }) {
  const s = { fill: 'none', stroke: 'currentColor', strokeWidth: 1.9, strokeLinecap: 'round' as const, strokeLinejoin: 'round' as const };
  const paths: Record<string, React.ReactNode> = {
    search: <><circle cx="11" cy="11" r="6.5" {...s} /><path d="m20 20-4.2-4.2" {...s} /></>,
    back: <path d="M15 5l-7 7 7 7" {...s} />,
    check: <path d="M5 12.5l4.5 4.5L19 7.5" {...s} />,
    checks: <><path d="M2 12.5l4.5 4.5L16 7.5" {...s} /><path d="M11 16.5l.5.5L21 7.5" {...s} /></>,
    clock: <><circle cx="12" cy="12" r="8.5" {...s} /><path d="M12 7.5V12l3 2" {...s} /></>,
    eye: <><path d="M2.5 12S6 5.5 12 5.5 21.5 12 21.5 12 18 18.5 12 18.5 2.5 12 2.5 12z" {...s} /><circle cx="12" cy="12" r="2.8" {...s} /></>,
    filter: <path d="M4 5h16l-6 7.5V19l-4 1.5v-8z" {...s} />,
    close: <path d="M6 6l12 12M18 6 6 18" {...s} />,
    user: <><circle cx="12" cy="8" r="4" {...s} /><path d="M4 20c1.5-4 4.5-5.5 8-5.5s6.5 1.5 8 5.5" {...s} /></>,
    download: <><path d="M12 4v11m0 0-4.5-4.5M12 15l4.5-4.5" {...s} /><path d="M5 19.5h14" {...s} /></>,
    more: <><circle cx="5" cy="12" r="1.4" fill="currentColor" /><circle cx="12" cy="12" r="1.4" fill="currentColor" /><circle cx="19" cy="12" r="1.4" fill="currentColor" /></>,
    robot: <><rect x="4.5" y="8" width="15" height="11" rx="3" {...s} /><path d="M12 4v4M9 13h.01M15 13h.01" {...s} /></>,
    note: <><path d="M5 4h10l4 4v12H5z" {...s} /><path d="M9 12h6M9 16h4" {...s} /></>,
    sort: <path d="M7 5v14m0 0-3-3m3 3 3-3M17 19V5m0 0-3 3m3-3 3 3" {...s} />,
    play: <path d="M8 5.5v13l10.5-6.5z" fill="currentColor" />,
    alert: <><path d="M12 3.5 2.5 20h19z" {...s} /><path d="M12 10v4.5M12 17.3v.2" {...s} /></>,
    menu: <path d="M4 7h16M4 12h16M4 17h16" {...s} />,
    settings: <><circle cx="12" cy="12" r="3" {...s} /><path d="M12 2.5v3M12 18.5v3M2.5 12h3M18.5 12h3M5.3 5.3l2.1 2.1M16.6 16.6l2.1 2.1M5.3 18.7l2.1-2.1M16.6 7.4l2.1-2.1" {...s} /></>,
    keyboard: <><rect x="2.5" y="6" width="19" height="12" rx="2" {...s} /><path d="M6 10h.01M10 10h.01M14 10h.01M18 10h.01M7 14h10" {...s} /></>,
    bell: <><path d="M6 16V11a6 6 0 0 1 12 0v5l1.5 2h-15z" {...s} /><path d="M10 20.5a2 2 0 0 0 4 0" {...s} /></>,
    send: <path d="M4 12 20 4l-6 16-2.5-6.5z" {...s} />,
    mic: <><rect x="9" y="3" width="6" height="11" rx="3" {...s} /><path d="M5.5 11a6.5 6.5 0 0 0 13 0M12 17.5V21" {...s} /></>,
    chart: <path d="M4 20V10M10 20V4M16 20v-7M21 20H3" {...s} />,
  };
  return <Svg {...p}>{paths[name]}</Svg>;
}
