import { isLocalMode } from '@/lib/auth/identity';
import { LoginForm } from './LoginForm';

export const dynamic = 'force-dynamic';

export default async function LoginPage() {
  if (await isLocalMode()) {
    return (
      <>
        <h1>Sign in</h1>
        <p className="notice">
          Local mode: no users exist, so nobody signs in; the workbench serves 127.0.0.1 only. Add the first admin with{' '}
          <code>npx cotscope users add NAME --role admin --password-stdin</code> to turn accounts on.
        </p>
      </>
    );
  }
  return (
    <>
      <h1>Sign in</h1>
      <LoginForm />
    </>
  );
}
