'use client';
import { useState } from 'react';

/** Name and password, or an API token for a user who has no password. */
export function LoginForm() {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [message, setMessage] = useState<string | null>(null);
  return (
    <form
      data-testid="login-form"
      onSubmit={async (event) => {
        event.preventDefault();
        const credentials = name.trim() === '' ? { token: password } : { name: name.trim(), password };
        const response = await fetch('/api/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(credentials) });
        const body = await response.json();
        if (response.ok) window.location.href = '/';
        else setMessage(body.error ?? 'sign-in failed');
      }}
    >
      <label>name <input name="name" autoComplete="username" value={name} onChange={(event) => setName(event.target.value)} /></label>{' '}
      <label>password <input name="password" type="password" autoComplete="current-password" value={password} onChange={(event) => setPassword(event.target.value)} /></label>{' '}
      <button type="submit">Sign in</button>
      <p className="muted">Leave the name empty to sign in with an API token in the password field.</p>
      {message ? <p className="error" data-testid="login-error">{message}</p> : null}
    </form>
  );
}
