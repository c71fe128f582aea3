'use client';
import { useState } from 'react';

export function LoginForm() {
  const [token, setToken] = useState('');
  const [message, setMessage] = useState<string | null>(null);
  return (
    <form
      onSubmit={async (event) => {
        event.preventDefault();
        const response = await fetch('/api/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
        const body = await response.json();
        if (response.ok) window.location.href = '/';
        else setMessage(body.error ?? 'sign-in failed');
      }}
    >
      <input type="password" value={token} onChange={(event) => setToken(event.target.value)} aria-label="access token" />{' '}
      <button type="submit">Sign in</button>
      {message ? <p className="error">{message}</p> : null}
    </form>
  );
}
