import { useState } from 'react';
import { messageOf } from '../api/errors';
import { Button } from '../ui/common';
import { signIn } from './session';
import s from './SignIn.module.css';
import c from '../ui/common.module.css';

export function SignIn() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main className={s.page}>
      <form
        className={s.card}
        aria-labelledby="sign-in-title"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            await signIn(email, password);
          } catch (err) {
            const m = messageOf(err);
            setError(/404|not found/i.test(m) ? 'Sign-in is not available on this server yet: open the inbox with an access link.' : m);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1 id="sign-in-title" className={s.title}>
          Sign in to your inbox
        </h1>
        <div className={c.field}>
          <label htmlFor="email">Email</label>
          <input id="email" className={c.input} type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div className={c.field}>
          <label htmlFor="password">Password</label>
          <input
            id="password"
            className={c.input}
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        {error ? (
          <p role="alert" className={c.error}>
            {error}
          </p>
        ) : null}
        <Button variant="primary" type="submit" disabled={busy} style={{ width: '100%', height: 40 }}>
          {busy ? 'Signing in…' : 'Sign in'}
        </Button>
      </form>
    </main>
  );
}
