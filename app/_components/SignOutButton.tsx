'use client';

/** Ends the session on the server (DELETE /api/session) and returns to the sign-in page. */
export function SignOutButton() {
  return (
    <button
      type="button"
      className="link"
      data-testid="sign-out"
      onClick={async () => {
        await fetch('/api/session', { method: 'DELETE' });
        window.location.href = '/login';
      }}
    >
      sign out
    </button>
  );
}
