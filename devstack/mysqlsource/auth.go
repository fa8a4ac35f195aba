package mysqlsource

import (
	"crypto/subtle"
	"net"

	vtmysql "vitess.io/vitess/go/mysql"
	"vitess.io/vitess/go/mysql/sqlerror"
)

// auth accepts the users the source knows, with mysql_native_password.
type auth struct {
	users map[string]string
}

var (
	_ vtmysql.AuthServer  = (*auth)(nil)
	_ vtmysql.HashStorage = (*auth)(nil)
)

func (a *auth) AuthMethods() []vtmysql.AuthMethod {
	return []vtmysql.AuthMethod{vtmysql.NewMysqlNativeAuthMethod(a, a)}
}

func (a *auth) DefaultAuthMethodDescription() vtmysql.AuthMethodDescription {
	return vtmysql.MysqlNativePassword
}

func (a *auth) HandleUser(user string) bool { _, ok := a.users[user]; return ok }

func (a *auth) UserEntryWithHash(_ *vtmysql.Conn, salt []byte, user string, resp []byte, _ net.Addr) (vtmysql.Getter, error) {
	pw, ok := a.users[user]
	if ok && (pw == "" && len(resp) == 0 || subtle.ConstantTimeCompare(vtmysql.ScrambleMysqlNativePassword(salt, []byte(pw)), resp) == 1) {
		return &vtmysql.StaticUserData{}, nil
	}
	return nil, sqlerror.NewSQLErrorf(sqlerror.ERAccessDeniedError, sqlerror.SSAccessDeniedError, "Access denied for user '%v'", user)
}
